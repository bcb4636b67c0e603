"""The private services as one stack: started when no external ones are configured, their
URLs recorded in services.json for every other command, and stopped together."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from backend.core.config import DatabaseSettings, MqttSettings, paths
from backend.embedded.mosquitto import EmbeddedMosquitto
from backend.embedded.postgres import EmbeddedPostgres
from backend.registry.gateways import broker_users


@dataclass
class Stack:
    data_dir: Path
    database: str = "riskmap"

    @property
    def postgres(self) -> EmbeddedPostgres:
        return EmbeddedPostgres(self.data_dir / "pg")

    @property
    def mosquitto(self) -> EmbeddedMosquitto:
        return EmbeddedMosquitto(self.data_dir / "mqtt")

    @property
    def embeds_database(self) -> bool:
        return DatabaseSettings().database_url is None

    @property
    def embeds_broker(self) -> bool:
        return MqttSettings().mqtt_url is None

    def up(self) -> dict[str, str]:
        """Start what is not configured externally; returns the URLs of what was started."""
        urls: dict[str, str] = {}
        if self.embeds_database:
            urls["database_url"] = self.postgres.up(self.database)
        if self.embeds_broker:
            urls["mqtt_url"] = self.mosquitto.up()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        services = self.data_dir / "services.json"
        services.touch(mode=0o600)
        services.write_text(json.dumps(urls, indent=2))
        return urls

    def down(self) -> None:
        if self.embeds_broker:
            self.mosquitto.stop()
        if self.embeds_database:
            self.postgres.stop()
        (self.data_dir / "services.json").unlink(missing_ok=True)


def default_stack() -> Stack:
    return Stack(paths().data_dir)


def sync_broker_auth(session: Session, stack: Stack | None = None) -> Path:
    """Write the broker's password file and ACL from the gateway registry.

    The private broker reloads them at once; for an external Mosquitto they are written under
    the data folder for its administrator to install. Returns the folder written.
    """
    stack = stack or default_stack()
    target = stack.mosquitto if stack.embeds_broker else EmbeddedMosquitto(stack.data_dir / "mqtt-auth")
    target.write_auth(broker_users(session))
    return target.root
