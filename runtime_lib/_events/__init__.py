"""Durable events: a SQLite outbox, delivery on NATS JetStream (or in memory), typed handlers.

Private: users reach events through ``runtime_lib`` (``Bridge.publish``/``subscribe``,
``EventsConfig``, ``EventContext``); modules import the submodule that holds a name.
"""
