"""The sync transport's connection states over real gRPC: a channel whose peer went away is
asked to reconnect, and failing to is reported as not dispatched (safe to retry elsewhere)."""

from __future__ import annotations

import threading
from types import ModuleType

import grpc
import pytest
from echo_service import make_handler
from served import ServedInThread, free_address

import runtime_lib as sb
from runtime_lib._sync.connection import SyncConnection

pytestmark = pytest.mark.timeout(60)


def test_a_peer_gone_is_a_not_dispatched_connection_failure(echo: ModuleType) -> None:
    listen = free_address()
    bridge = sb.Bridge("echo", listen=listen)
    bridge.serve(make_handler(echo))
    with ServedInThread(bridge):
        connection = SyncConnection(listen)
        connection.ready(10)
    try:
        # Wait until the channel itself has seen the peer go (IDLE or failed): the connection's
        # own watcher was subscribed first, so it has been told by then too.
        gone = threading.Event()

        def seen(state: grpc.ChannelConnectivity) -> None:
            if state is not grpc.ChannelConnectivity.READY:
                gone.set()

        connection.channel.subscribe(seen)
        assert gone.wait(30)
        with pytest.raises(sb.ConnectionFailedError) as refused:
            connection.ready(10)
        assert refused.value.not_dispatched
        assert listen in refused.value.message
        connection.channel.unsubscribe(seen)
    finally:
        connection.close()
