"""Gateway credentials against the real broker: `riskmap gateway rotate` (the old password is
refused once the broker has reloaded, the new one accepted), `disable` (refused) and `enable`,
each audited with the command-line user as the actor. Mosquitto 2.0 re-checks the clients that
are connected when it reloads its password file and drops those no longer valid: a rotated or
disabled gateway's open connection is closed too (tested here, as it differs between versions)."""

from __future__ import annotations

import threading

from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from backend.cli import app
from backend.core.mqtt import BrokerAddress
from backend.embedded.stack import Stack
from tests.support.wait import wait_until

runner = CliRunner()


def _connect(stack: Stack, user: str, password: str) -> tuple[str, object]:
    """Try to log in; returns the CONNACK reason ("Success", "Not authorized", ...) and the
    client (still connected on success; the caller closes it)."""
    import paho.mqtt.client as mqtt

    address = BrokerAddress.parse(stack.mosquitto.url())
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user)  # the broker binds client ids to gateway ids
    c.username_pw_set(user, password)
    outcome: dict[str, str] = {}
    done = threading.Event()

    def on_connect(cl, userdata, flags, reason, props) -> None:
        outcome["reason"] = str(reason)
        done.set()

    c.on_connect = on_connect
    c.reconnect_delay_set(60, 60)  # a refused client must not retry during the test
    c.connect(address.host, address.port, keepalive=5)
    c.loop_start()
    assert done.wait(5), "no CONNACK"
    return outcome["reason"], c


def _refused_now(stack: Stack, user: str, password: str) -> bool:
    reason, c = _connect(stack, user, password)
    c.disconnect()
    c.loop_stop()
    return reason != "Success"


def _add(site: str) -> tuple[str, str]:
    r = runner.invoke(app, ["gateway", "add", "--site", site])
    assert r.exit_code == 0, r.output
    return r.output.split("gateway id:")[1].split()[0], r.output.split("password:")[1].split()[0]


def test_rotate_refuses_the_old_password_and_accepts_the_new(seeded: Engine, stack: Stack) -> None:
    gid, old = _add("JL-TSF-0040")
    wait_until(lambda: not _refused_now(stack, gid, old), timeout=5)  # the broker reloaded after `add`
    reason, connected = _connect(stack, gid, old)
    assert reason == "Success"
    r = runner.invoke(app, ["gateway", "rotate", gid])
    assert r.exit_code == 0, r.output
    new = r.output.split("password:")[1].split()[0]
    assert new != old and "shown once" in r.output
    wait_until(lambda: _refused_now(stack, gid, old), timeout=5)
    assert not _refused_now(stack, gid, new)
    wait_until(lambda: not connected.is_connected(), timeout=5)  # the old session is dropped as well
    connected.loop_stop()
    with seeded.connect() as c:
        rows = c.execute(
            text(
                "SELECT actor, after FROM audit_log WHERE entity = 'gateways' AND entity_key = :g AND action = 'update'"
            ),
            {"g": gid},
        ).all()
    assert any(actor.startswith("cli:") and "password_rotated_at" in after for actor, after in rows)
    assert not any("password_hash" in (after or {}) for _, after in rows)
    assert runner.invoke(app, ["gateway", "rotate", "JL-NONE-GW01"]).exit_code == 2


def test_disable_refuses_the_gateway_and_enable_lets_it_back(
    seeded: Engine, stack: Stack, gateway_secrets: dict[str, str]
) -> None:
    gid, password = _add("JL-TSF-0041")
    wait_until(lambda: not _refused_now(stack, gid, password), timeout=5)
    # A gateway connected when it is disabled is disconnected by the broker's reload; another
    # gateway of the same site stays connected.
    reason, connected = _connect(stack, gid, password)
    assert reason == "Success"
    other = "JL-TSF-0041-GW01"
    reason, control = _connect(stack, other, gateway_secrets[other])
    assert reason == "Success"
    r = runner.invoke(app, ["gateway", "disable", gid])
    assert r.exit_code == 0, r.output
    wait_until(lambda: _refused_now(stack, gid, password), timeout=5)
    listed = runner.invoke(app, ["gateway", "list", "--site", "JL-TSF-0041"]).output
    assert f"{gid}\tJL-TSF-0041\t\tdisabled" in listed
    assert (stack.data_dir / "mqtt" / "passwd").read_text().count(f"{gid}:") == 0
    wait_until(lambda: not connected.is_connected(), timeout=5)
    connected.loop_stop()
    assert control.is_connected()
    control.disconnect()
    control.loop_stop()
    assert runner.invoke(app, ["gateway", "enable", gid]).exit_code == 0
    wait_until(lambda: not _refused_now(stack, gid, password), timeout=5)
    with seeded.connect() as c:
        changes = [
            after
            for (after,) in c.execute(
                text(
                    "SELECT after FROM audit_log WHERE entity = 'gateways' AND entity_key = :g AND action = 'update' "
                    "AND actor LIKE 'cli:%' ORDER BY id"
                ),
                {"g": gid},
            )
        ]
    assert changes[0]["disabled_at"] is not None and changes[1]["disabled_at"] is None
