"""PostgreSQL notifications fanned out to the web process's listeners (the SSE streams).

One LISTEN connection per process and channel, opened on first use. Each notification is
rendered once — in a worker thread, a burst in one batch — into the text every subscriber is
sent, so a thousand open streams cost a thousand queue puts, not a thousand queries, and no
stream holds a database connection. A lost connection is reopened; subscribers keep their queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import psycopg

from backend.core.config import database_url

log = logging.getLogger("riskmap.notify")
BATCH = 500


class Channel:
    def __init__(self, name: str, render: Callable[[list[dict[str, Any]]], list[str]], queue_size: int = 1000) -> None:
        """`render` turns a batch of notification payloads into the texts to send (it may query)."""
        self.name, self.render, self.queue_size = name, render, queue_size
        self.subscribers: set[asyncio.Queue[str]] = set()
        self.task: asyncio.Task[None] | None = None

    def subscribe(self, q: asyncio.Queue[str] | None = None) -> asyncio.Queue[str]:
        """A queue receiving this channel's texts; pass one to merge several channels into it."""
        q = q if q is not None else asyncio.Queue(self.queue_size)
        self.subscribers.add(q)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        return q

    def unsubscribe(self, q: asyncio.Queue[str]) -> None:
        self.subscribers.discard(q)

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

    def _fan_out(self, text: str) -> None:
        for q in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):  # a stalled client loses events, not the server
                q.put_nowait(text)
