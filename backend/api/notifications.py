"""PostgreSQL notifications fanned out to the web process's listeners (the SSE streams).

One LISTEN connection per process and channel, opened on first use. Each notification is
rendered once — in a worker thread, a burst in one batch — into the text every subscriber is
sent, so a thousand open streams cost a thousand queue puts, not a thousand queries, and no
stream holds a database connection. A lost connection is reopened; subscribers keep their queues.

A rendered text may be addressed (`Addressed`: the region and enterprise of the row it is about);
each subscriber's principal decides whether it is sent: the listener's jurisdiction filters the
stream as row-level security filters a query. A text about rows of several jurisdictions (a
broadcast to sites of many counties) is `Tailored`: made for each listener from what it may see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from backend.core.config import database_url
from backend.core.principal import Principal, Scope

log = logging.getLogger("riskmap.notify")
BATCH = 500


@dataclass(frozen=True)
class Addressed:
    """A text about one row of the register, for the listeners whose jurisdiction holds it."""

    text: str
    region_adcode: str
    enterprise_id: int


@dataclass(frozen=True)
class Tailored:
    """A text made for each listener from what its jurisdiction holds (None: nothing for it)."""

    make: Callable[[Principal], str | None]


def visible_to(principal: Principal) -> Callable[[Addressed], bool]:
    """The Python twin of riskmap_enterprise_visible (migration 0010) for one listener."""
    if principal.scope is Scope.all:
        return lambda a: True
    if principal.scope is Scope.region and principal.region:
        return lambda a: a.region_adcode.startswith(principal.region)
    if principal.scope is Scope.enterprise and principal.enterprise_id is not None:
        return lambda a: a.enterprise_id == principal.enterprise_id
    return lambda a: False


class Channel:
    def __init__(
        self,
        name: str,
        render: Callable[[list[dict[str, Any]]], list[str | Addressed | Tailored]],
        queue_size: int = 1000,
    ) -> None:
        """`render` turns a batch of notification payloads into the texts to send (it may query)."""
        self.name, self.render, self.queue_size = name, render, queue_size
        self.subscribers: dict[asyncio.Queue[str], tuple[Principal, Callable[[Addressed], bool]]] = {}
        self.task: asyncio.Task[None] | None = None

    def subscribe(self, listener: Principal, q: asyncio.Queue[str] | None = None) -> asyncio.Queue[str]:
        """A queue of the texts for one listener: every plain text, the addressed ones its
        jurisdiction holds, and each tailored one as made for it. Pass a queue to merge several
        channels into it."""
        q = q if q is not None else asyncio.Queue(self.queue_size)
        self.subscribers[q] = (listener, visible_to(listener))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        return q

    def unsubscribe(self, q: asyncio.Queue[str]) -> None:
        self.subscribers.pop(q, None)

    async def _run(self) -> None:
        raw: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        renderer = asyncio.get_running_loop().create_task(self._render(raw))
        try:
            await self._listen(raw)
        finally:
            renderer.cancel()

    async def _listen(self, raw: asyncio.Queue[dict[str, Any]]) -> None:
        """Queue each notification's payload while anyone listens (checked every few seconds)."""
        while self.subscribers:
            try:
                async with await psycopg.AsyncConnection.connect(database_url(), autocommit=True) as conn:
                    await conn.execute(f"LISTEN {self.name}")
                    while self.subscribers:
                        async for note in conn.notifies(timeout=5.0):
                            try:
                                raw.put_nowait(json.loads(note.payload))
                            except ValueError:
                                log.warning("NOTIFY %s: payload is not JSON; ignored", self.name)
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN %s lost (%s); reconnecting", self.name, exc)
                await asyncio.sleep(1)

    async def _render(self, raw: asyncio.Queue[dict[str, Any]]) -> None:
        """Render what has arrived in one batch (one query for a burst) and fan it out."""
        while True:
            batch = [await raw.get()]
            while not raw.empty() and len(batch) < BATCH:
                batch.append(raw.get_nowait())
            try:
                texts = await asyncio.to_thread(self.render, batch)
            except Exception:
                log.exception("rendering %d notifications of %s failed; they are not sent", len(batch), self.name)
                continue
            for text in texts:
                self._fan_out(text)

    def _fan_out(self, text: str | Addressed | Tailored) -> None:
        for q, (listener, accepts) in list(self.subscribers.items()):
            if isinstance(text, Tailored):
                made = text.make(listener)
            elif isinstance(text, Addressed):
                made = text.text if accepts(text) else None
            else:
                made = text
            if made is None:
                continue
            with contextlib.suppress(asyncio.QueueFull):  # a stalled client loses events, not the server
                q.put_nowait(made)
