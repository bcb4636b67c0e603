"""Listening to the map's live stream (Server-Sent Events) in a thread, as a browser would."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx


class StreamListener:
    """Collects every (event name, data) the stream sends, from when it is connected."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.connected = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)

    def __enter__(self) -> StreamListener:
        self.thread.start()
        assert self.connected.wait(10), "the stream did not open"
        time.sleep(0.5)  # the shared LISTEN is in place
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()

    def named(self, name: str) -> list[dict[str, Any]]:
        return [data for event, data in list(self.events) if event == name]

    def _listen(self) -> None:
        with httpx.Client(timeout=30, headers=self.headers) as c, c.stream("GET", self.url) as r:
            name = "message"
            for line in r.iter_lines():
                self.connected.set()
                if self.stop.is_set():
                    return
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    self.events.append((name, json.loads(line[5:])))
                elif not line:
                    name = "message"
