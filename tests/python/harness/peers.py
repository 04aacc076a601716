"""Tokens and connected participants, as any LiveKit integrator would make them."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from dataclasses import dataclass, field

from livekit import api, rtc

from .events import EventLog
from .server import API_KEY, API_SECRET

CONNECT_TIMEOUT_S = 20.0


def room_name(prefix: str) -> str:
    """A fresh room per test, so tests never see each other's participants."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def token(
    room: str,
    identity: str,
    *,
    name: str = "",
    metadata: str = "",
    secret: str = API_SECRET,
    ttl: datetime.timedelta = datetime.timedelta(hours=1),
    **grants: object,
) -> str:
    video = api.VideoGrants(room_join=True, room=room, can_update_own_metadata=True)
    for key, value in grants.items():
        setattr(video, key, value)
    t = (
        api.AccessToken(API_KEY, secret)
        .with_identity(identity)
        .with_grants(video)
        .with_ttl(ttl)
    )
    if name:
        t = t.with_name(name)
    if metadata:
        t = t.with_metadata(metadata)
    return t.to_jwt()


@dataclass
class Peer:
    """A connected rtc.Room, with every event it emitted since before it connected."""

    identity: str
    room: rtc.Room
    events: EventLog
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def local(self) -> rtc.LocalParticipant:
        return self.room.local_participant

    def remote(self, identity: str) -> rtc.RemoteParticipant:
        return self.room.remote_participants[identity]

    def spawn(self, coro) -> asyncio.Task:
        """Run a media pump or reader that must stop when this peer leaves."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        return task

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.wait_for(self.room.disconnect(), 10)


class Peers:
    """Connects participants to the server and disconnects them all at teardown."""

    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self._peers: list[Peer] = []

    async def join(
        self,
        room: str,
        identity: str,
        *,
        auto_subscribe: bool = True,
        jwt: str | None = None,
        **token_args: object,
    ) -> Peer:
        r = rtc.Room()
        events = EventLog(r)
        jwt = jwt or token(room, identity, **token_args)
        options = rtc.RoomOptions(auto_subscribe=auto_subscribe)
        await asyncio.wait_for(r.connect(self.ws_url, jwt, options), CONNECT_TIMEOUT_S)
        peer = Peer(identity, r, events)
        self._peers.append(peer)
        return peer

    async def close_all(self) -> None:
        peers, self._peers = self._peers, []
        results = await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        for peer, result in zip(peers, results):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                # Teardown must not hide the test's own failure; the server log has the detail.
                print(f"teardown: closing {peer.identity} failed: {result!r}")
