"""QueuedSubscriber: in order, one writer at a time, none while idle."""

from __future__ import annotations

import asyncio

from desktop.relay.hub import MAX_QUEUED, QueuedSubscriber


class Socket:
    """A socket whose writes wait until the test lets them through."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def send(self, text: str) -> None:
        await self.gate.wait()
        if self.fail:
            raise ConnectionResetError("the peer went away")
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def subscriber(socket: Socket) -> QueuedSubscriber:
    return QueuedSubscriber("acct", 1, socket.send, socket.close)


def writing(sub: QueuedSubscriber) -> bool:
    """A call, not the property: the type checker keeps no memory of a call."""
    return sub.writing


async def settled(sub: QueuedSubscriber) -> None:
    """Let the writer run until it ends (each pass of the loop lets it write one)."""
    for _ in range(1000):
        if not sub.writing:
            return
        await asyncio.sleep(0)
    raise AssertionError("the writer never ended")


def test_messages_go_out_in_order_and_the_writer_ends_when_the_queue_is_empty() -> None:
    async def scenario() -> None:
        socket = Socket()
        sub = subscriber(socket)
        assert not writing(sub)
        socket.gate.clear()
        for n in range(5):
            sub.deliver(f"m{n}")
        assert writing(sub)
        socket.gate.set()
        await settled(sub)
        assert socket.sent == [f"m{n}" for n in range(5)]
        sub.deliver("m5")
        await settled(sub)
        assert socket.sent[-1] == "m5"
        assert socket.closed is None

    asyncio.run(scenario())


def test_a_slow_socket_keeps_only_the_newest_messages() -> None:
    async def scenario() -> None:
        socket = Socket()
        sub = subscriber(socket)
        socket.gate.clear()
        sub.deliver("m0")
        await asyncio.sleep(0)  # the writer takes m0 and waits on the gate
        for n in range(1, MAX_QUEUED + 10):
            sub.deliver(f"m{n}")
        socket.gate.set()
        await settled(sub)
        assert socket.sent[0] == "m0"
        assert socket.sent[-1] == f"m{MAX_QUEUED + 9}"
        assert len(socket.sent) == MAX_QUEUED + 1

    asyncio.run(scenario())


def test_close_waits_for_the_message_being_written_and_drops_the_rest() -> None:
    async def scenario() -> None:
        socket = Socket()
        sub = subscriber(socket)
        socket.gate.clear()
        sub.deliver("first")
        sub.deliver("second")
        await asyncio.sleep(0)
        sub.close(4401, "sign in again")
        sub.deliver("after the close")
        socket.gate.set()
        await settled(sub)
        assert socket.sent == ["first"]
        assert socket.closed == (4401, "sign in again")

    asyncio.run(scenario())


def test_a_failed_write_ends_the_writer_quietly_and_stop_cancels_one_in_flight() -> None:
    async def scenario() -> None:
        socket = Socket()
        sub = subscriber(socket)
        socket.fail = True
        sub.deliver("lost")
        await settled(sub)
        assert socket.sent == []
        socket.fail = False
        socket.gate.clear()
        sub.deliver("stuck")
        await asyncio.sleep(0)
        assert writing(sub)
        await sub.stop()
        assert not writing(sub)
        assert socket.sent == []

    asyncio.run(scenario())
