"""Jobs: cron, interval and one-shot work, fired once per scheduled time across every instance.

Declare with ``@bridge.job(name, cron=..., tz=...)`` or ``interval=...``; schedule one-shots
with ``await bridge.jobs.schedule(name, at=...)``. Leases and stored one-shots live in NATS
JetStream KV on the broker the bridge's events use. See docs/jobs.md.
"""

from runtime_lib._jobs.clock import Clock, ManualClock, SystemClock
from runtime_lib._jobs.context import JobContext
from runtime_lib._jobs.control import JobInfo, JobOptions, Jobs
from runtime_lib._jobs.cron import CronSchedule, CronSyntaxError, parse_cron
from runtime_lib._jobs.kv import MemoryBucket
from runtime_lib._jobs.runner import JobHandler
from runtime_lib._jobs.spec import Catchup, JobRetry, JobSpec, Overlap, build_spec, spec_from_opts
from runtime_lib._jobs.store import JobStore, LastResult
from runtime_lib._jobs.targets import call, publish

__all__ = [
    "Catchup",
    "Clock",
    "CronSchedule",
    "CronSyntaxError",
    "JobContext",
    "JobHandler",
    "JobInfo",
    "JobOptions",
    "JobRetry",
    "JobSpec",
    "JobStore",
    "Jobs",
    "LastResult",
    "ManualClock",
    "MemoryBucket",
    "Overlap",
    "SystemClock",
    "build_spec",
    "call",
    "parse_cron",
    "publish",
    "spec_from_opts",
]
