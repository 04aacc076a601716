"""Record the events a livekit Room emits, and await them with a bound.

A test usually triggers an action and then waits for its effect. The effect may arrive before the
test starts waiting (the SDK delivers events on the same loop, between any two awaits), so every
event is recorded from the moment of connect, and `wait` first looks at what has already been
seen. This removes a whole class of races without any sleep.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable

# Every event the tests look at; listing them all also makes a timeout message show the full
# story of what the room did see.
ROOM_EVENTS = (
    "participant_connected",
    "participant_disconnected",
    "participant_active",
    "local_track_published",
    "local_track_unpublished",
    "track_published",
    "track_unpublished",
    "track_subscribed",
    "track_unsubscribed",
    "track_subscription_failed",
    "track_muted",
    "track_unmuted",
    "room_metadata_changed",
    "participant_metadata_changed",
    "participant_name_changed",
    "participant_attributes_changed",
    "participant_permissions_changed",
    "data_received",
    "connection_state_changed",
    "disconnected",
    "reconnecting",
    "reconnected",
)

DEFAULT_TIMEOUT_S = 10.0

Predicate = Callable[..., bool]


def _any(*_args: Any) -> bool:
    return True


class EventLog:
    def __init__(self, emitter: Any, names: tuple[str, ...] = ROOM_EVENTS) -> None:
        self.seen: list[tuple[str, tuple]] = []
        self._waiters: list[tuple[str, Predicate, asyncio.Future]] = []
        for name in names:
            emitter.on(name, functools.partial(self._record, name))

    def _record(self, name: str, *args: Any) -> None:
        self.seen.append((name, args))
        for wanted, predicate, fut in list(self._waiters):
            if wanted == name and not fut.done() and predicate(*args):
                fut.set_result(args)

    def all(self, name: str, predicate: Predicate = _any) -> list[tuple]:
        return [args for seen, args in self.seen if seen == name and predicate(*args)]

    def names(self) -> list[str]:
        return [name for name, _ in self.seen]

    async def wait(
        self, name: str, predicate: Predicate = _any, timeout: float = DEFAULT_TIMEOUT_S
    ) -> tuple:
        """The arguments of the first `name` event matching `predicate`, past or future."""
        for seen, args in self.seen:
            if seen == name and predicate(*args):
                return args
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        entry = (name, predicate, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"no matching {name!r} event within {timeout}s; events seen: {self.names()}"
            ) from None
        finally:
            self._waiters.remove(entry)
