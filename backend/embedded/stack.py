"""The private services as one stack: started when no external ones are configured, their
URLs recorded in services.json for every other command, and stopped together."""

from __future__ import annotations

import json
import os
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
        """Start what is not configured externally; returns the URLs of what was started.

        A service may come up on a new port (its saved one taken meanwhile): services.json is
        rewritten on every start, so every other command reads the URLs in use now.
        """
        urls: dict[str, str] = {}
        if self.embeds_database:
            urls["database_url"] = self.postgres.up(self.database)
        if self.embeds_broker:
            urls["mqtt_url"] = self.mosquitto.up()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        services = self.data_dir / "services.json"
        tmp = services.with_suffix(".json.tmp")
        tmp.unlink(missing_ok=True)
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            json.dump(urls, f, indent=2)
        tmp.replace(services)  # readers see the old file or the new one, never half of one
        return urls

    def down(self) -> None:
        if self.embeds_broker:
            self.mosquitto.stop()
        if self.embeds_database:
            self.postgres.stop()
        (self.data_dir / "services.json").unlink(missing_ok=True)


def default_stack() -> Stack:
    return Stack(paths().data_dir)


@dataclass(frozen=True)
class BrokerSync:
    folder: Path  # where the files were written
    reloaded: bool  # the private broker confirmed it reloaded them (False: none running, or no answer)
    embedded: bool


def sync_broker_auth(session: Session, stack: Stack | None = None) -> BrokerSync:
    """Write the broker's password file, ACL and guard rules from the gateway registry.

    The private broker reloads them at once; for an external Mosquitto they are written under
    the data folder for its administrator to install. Call it after the register change is
    committed, so that the broker never holds credentials the database does not.
    """
    stack = stack or default_stack()
    target = stack.mosquitto if stack.embeds_broker else EmbeddedMosquitto(stack.data_dir / "mqtt-auth")
    reloaded = target.write_auth(broker_users(session))
    return BrokerSync(target.root, reloaded, stack.embeds_broker)
