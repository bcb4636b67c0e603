"""PostgreSQL notifications fanned out to the web process's listeners (the SSE streams).

One LISTEN connection per process, opened on first use; each subscriber gets its own queue.
A lost connection is reopened; subscribers keep their queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from functools import cache
from typing import Any

import psycopg

from backend.core.config import database_url

log = logging.getLogger("riskmap.notify")


class Channel:
    def __init__(self, name: str, queue_size: int = 1000) -> None:
        self.name, self.queue_size = name, queue_size
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.task: asyncio.Task[None] | None = None

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.queue_size)
        self.subscribers.add(q)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._listen())
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self.subscribers.discard(q)

    async def _listen(self) -> None:
        while self.subscribers:
            try:
                async with await psycopg.AsyncConnection.connect(database_url(), autocommit=True) as conn:
                    await conn.execute(f"LISTEN {self.name}")
                    async for note in conn.notifies():
                        self._fan_out(json.loads(note.payload))
                        if not self.subscribers:
                            break
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN %s lost (%s); reconnecting", self.name, exc)
                await asyncio.sleep(1)

    def _fan_out(self, payload: dict[str, Any]) -> None:
        for q in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):  # a stalled client loses events, not the server
                q.put_nowait(payload)


@cache
def alarm_channel() -> Channel:
    return Channel("riskmap_alarms")
