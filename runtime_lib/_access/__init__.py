"""Access policy: which callers may call which methods (``allowed_callers``), and its violations.

See :mod:`runtime_lib._access.policy` and docs/security.md, "Access policy".
"""
