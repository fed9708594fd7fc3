"""A server's GOAWAY as the grpclib transport sees it (RFC 9113 §6.8): a callee that drains while
its caller is too busy to read (the last reply arrives in the same read as the GOAWAY and PING,
which grpclib, through h2, used to throw away), and a call the server declines by GOAWAY or
REFUSED_STREAM (not dispatched, while the one it took still gets its reply)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import ModuleType

import h2.errors
import hyperframe.frame
import pytest
from echo_service import pb, slow_call_in_flight, until
from h2_peer import GRPC_HEADERS, H2Peer
from processes import start_callee

import runtime_lib as sb

pytestmark = pytest.mark.timeout(60)


async def test_a_reply_read_together_with_the_drain_goaway_is_kept(
    echo_root: Path, echo: ModuleType, transport: sb.NetworkTransport
) -> None:
    callee = start_callee(echo_root, "echo", behaviours={"slow": {"sleepMs": 300}})
    try:
        async with slow_call_in_flight(callee.address, echo, transport) as call:
            # Blocking the caller's loop on purpose (no executor): while the callee finishes the
            # call, drains and exits, its reply, GOAWAY, PING and FIN all wait in the socket, so
            # the caller reads them at once, as a caller on a loaded machine does by chance.
            assert callee.terminate() == 0
            assert (await call).text == "last"
    finally:
        callee.close()


class _TakesOnlyTheFirst(H2Peer):
    """Once two calls are open it declines the second (a GOAWAY naming the first as the last it
    took, or the second reset with REFUSED_STREAM), then answers the first. No gRPC server can
    be made to do either on cue; grpc core sends such frames when it stops during a burst of new
    calls."""

    def __init__(self, reply: bytes, how: str) -> None:
        super().__init__()
        self.reply = reply
        self.how = how
        self.requests: list[int] = []

    def request_ended(self, stream_id: int) -> None:
        self.requests.append(stream_id)
        if len(self.requests) == 2:
            self._decline_the_second_answer_the_first()

    def _decline_the_second_answer_the_first(self) -> None:
        assert self.transport is not None
        taken, declined = self.requests
        if self.how == "goaway":
            # Written by hand: h2 sends nothing but GOAWAY after its own, which §6.8 allows.
            goaway = hyperframe.frame.GoAwayFrame(0, last_stream_id=taken)
            self.transport.write(self.h2.data_to_send() + goaway.serialize())
        else:
            self.h2.reset_stream(declined, h2.errors.ErrorCodes.REFUSED_STREAM)
        self.h2.send_headers(taken, GRPC_HEADERS)
        self.h2.send_data(taken, b"\0" + len(self.reply).to_bytes(4, "big") + self.reply)
        self.h2.send_headers(taken, [("grpc-status", "0")], end_stream=True)


@pytest.mark.parametrize("how", ["goaway", "refused_stream"])
async def test_a_call_the_server_declined_is_not_dispatched_the_taken_one_finishes(
    echo: ModuleType, how: str
) -> None:
    loop = asyncio.get_running_loop()
    peers: list[_TakesOnlyTheFirst] = []

    def peer() -> _TakesOnlyTheFirst:
        peers.append(_TakesOnlyTheFirst(pb().EchoReply(text="taken").SerializeToString(), how))
        return peers[-1]

    server = await loop.create_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    once = sb.RetryPolicy(max_attempts=1)
    try:
        async with sb.Bridge("caller", rpc=sb.RpcConfig(transport="grpclib")) as caller:
            client = caller.client(echo.CalleeClient, address=f"127.0.0.1:{port}")
            first = asyncio.create_task(client.echo(pb().Echo(text="1"), retry=once))
            await until(
                lambda: bool(peers and peers[0].requests), "the first call reached the peer"
            )
            with pytest.raises(sb.ConnectionFailedError) as refused:
                await client.echo(pb().Echo(text="2"), retry=once)
            assert refused.value.not_dispatched  # safe to send again, key or not
            assert (await first).text == "taken"  # its reply came after the second was declined
    finally:
        server.close()
        await server.wait_closed()
