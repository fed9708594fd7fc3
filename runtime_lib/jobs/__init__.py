"""Jobs: cron, interval and one-shot work, fired once per scheduled time across every instance."""
