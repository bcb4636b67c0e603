"""The `riskmap` command against the test services."""

from pathlib import Path

from sqlalchemy import Engine, text
from typer.testing import CliRunner

from backend.cli import app
from backend.core.security import verify_mosquitto_hash

runner = CliRunner()


def test_gateway_add_prints_the_password_once_and_stores_a_hash(seeded: Engine) -> None:
    r = runner.invoke(app, ["gateway", "add", "--site", "JL-TSF-0020", "--name", "坝体监测网关"])
    assert r.exit_code == 0, r.output
    gid = r.output.split("gateway id:")[1].split()[0]
    password = r.output.split("password:")[1].split()[0]
    assert gid.startswith("JL-TSF-0020-GW")
    with seeded.connect() as c:
        stored = c.scalar(text("SELECT password_hash FROM gateways WHERE id = :g"), {"g": gid})
    assert password not in stored and verify_mosquitto_hash(password, stored)
    listed = runner.invoke(app, ["gateway", "list", "--site", "JL-TSF-0020"])
    assert gid in listed.output and password not in listed.output
    acl = (Path(".riskmap-test") / "mqtt" / "acl").resolve()
    assert all(
        f"topic write riskmap/v1/JL-TSF-0020/{gid}/{ch}" in acl.read_text() for ch in ("readings", "status", "ack")
    )


def test_gateway_add_for_unknown_site(seeded: Engine) -> None:
    r = runner.invoke(app, ["gateway", "add", "--site", "JL-NONE-0001"])
    assert r.exit_code == 2 and "no site" in r.output


def test_token_create_and_import_exit_codes(seeded: Engine, tmp_path: Path) -> None:
    r = runner.invoke(app, ["token", "create", "--role", "operator", "--name", "cli-test"])
    assert r.exit_code == 0 and r.output.strip().startswith("rmk_")
    good = tmp_path / "places.csv"
    good.write_text("code,name,kind,population,lon,lat\nCLI-P1,测试村,village,50,126.5,43.9\n", encoding="utf-8")
    r = runner.invoke(app, ["import", str(good), "--layer", "places"])
    assert r.exit_code == 0 and "1 loaded" in r.output
    r = runner.invoke(app, ["import", str(good), "--layer", "places"])
    assert r.exit_code == 1 and "row 1 (CLI-P1): duplicate place code" in r.output
