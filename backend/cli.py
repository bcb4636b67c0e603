"""`riskmap`: the platform's one command."""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.accounts import users as accounts
from backend.accounts.demo import DemoAccount, how_to_sign_in, seed_demo_accounts
from backend.alarms import escalation as alarm_escalation
from backend.core.clock import CHINA_TZ
from backend.core.config import RiskSettings, api_settings, database_url, mqtt_url, paths
from backend.core.db import session_scope
from backend.core.migrate import upgrade
from backend.core.principal import Principal, Role, Scope
from backend.domain.errors import DomainError
from backend.embedded.stack import default_stack, sync_broker_auth
from backend.embedded.supervise import Supervised, child_argv, stop_all
from backend.hazards import lifecycle as hazard_lifecycle
from backend.hazards import sample as sample_hazards
from backend.models import Gateway, Site
from backend.registry import organisations
from backend.registry.gateways import UnknownGateway, UnknownSite, add_gateway, rotate_password, set_disabled
from backend.registry.importer import ImportReport, Layer, import_file
from backend.registry.seed import seed as seed_sample
from backend.registry.tokens import (
    OrganisationNotFound,
    TokenNotFound,
    create_token,
    list_tokens,
    organisation,
    revoke_token,
)
from backend.risk.engine import regrade
from backend.supervision import sample as sample_inspections
from backend.supervision.service import ensure_demo_plan
from backend.warnings import escalation
from backend.warnings.rules import utcnow
from maps.build import export_map

app = typer.Typer(no_args_is_help=True, help="Jilin work-safety risk map and monitoring platform.")
gateway_app = typer.Typer(no_args_is_help=True, help="IoT gateways and their broker credentials.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens.")
user_app = typer.Typer(no_args_is_help=True, help="Users: people who sign in to the pages.")
org_app = typer.Typer(no_args_is_help=True, help="Organisations: bureaus, departments, enterprises.")
services_app = typer.Typer(no_args_is_help=True, help="The private PostGIS and Mosquitto.")
app.add_typer(gateway_app, name="gateway")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
app.add_typer(org_app, name="org")
app.add_typer(services_app, name="services")


def actor() -> str:
    return f"cli:{getpass.getuser()}"


def _print_report(report: ImportReport) -> None:
    typer.echo(
        f"{report.layer}: {report.loaded} loaded, {report.skipped} already present, {len(report.errors)} rejected"
    )
    for note in report.notes:
        typer.echo(f"  {note}")
    for e in report.errors:
        typer.echo(f"  row {e.row} ({e.key}): {e.reason}", err=True)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    upgrade(database_url())
    typer.echo("schema up to date")


@app.command()
def seed() -> None:
    """Load the sample Jilin register; running it again changes nothing."""
    with session_scope(actor()) as session:
        for report in seed_sample(session, paths().data_dir):
            _print_report(report)
        wanted, secrets_file = seed_demo_accounts(session, paths().data_dir)
        hazards = sample_hazards.load(session, datetime.now(UTC))
        regrade(session)
    typer.echo(f"demo accounts: {len(wanted)} (passwords in {secrets_file})")
    typer.echo(f"sample hidden hazards: {hazards} written")
    _sync_broker()


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="GeoJSON, CSV (lon/lat) or GeoPackage"),
    ],
    layer: Annotated[Layer, typer.Option(help="what the rows are")] = Layer.sites,
) -> None:
    """Load your own register records; bad rows are reported and the good ones loaded."""
    with session_scope(actor()) as session:
        report = import_file(session, file, layer)
    if layer in {Layer.gateways, Layer.sites}:
        _sync_broker()
    _print_report(report)
    if report.errors:
        raise typer.Exit(1)


@gateway_app.command("add")
def gateway_add(
    site: Annotated[str, typer.Option(help="site code, e.g. JL-TSF-0007")],
    name: Annotated[str, typer.Option()] = "",
) -> None:
    """Create a gateway; its password is printed once and never stored in the clear."""
    try:
        with session_scope(actor()) as session:
            gateway, password = add_gateway(session, site, name)
    except UnknownSite as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    _sync_broker()
    typer.echo(f"gateway id: {gateway.id}\npassword:   {password}\n(shown once: store it in the gateway now)")


@gateway_app.command("list")
def gateway_list(site: Annotated[str | None, typer.Option(help="only this site")] = None) -> None:
    with session_scope(actor()) as session:
        query = select(Gateway.id, Site.code, Gateway.name, Gateway.disabled_at).join(Site).order_by(Gateway.id)
        if site:
            query = query.where(Site.code == site)
        for gid, code, name, disabled_at in session.execute(query):
            typer.echo(f"{gid}\t{code}\t{name}" + ("\tdisabled" if disabled_at else ""))


def _sync_broker() -> None:
    """Give the broker the committed register's credentials; say so when it did not confirm."""
    with session_scope(actor()) as session:
        synced = sync_broker_auth(session)
    if not synced.embedded:
        typer.echo(f"broker files written to {synced.folder}: install them in your Mosquitto and reload it", err=True)
    elif not synced.reloaded:
        typer.echo("warning: the private broker did not confirm the reload (is it running?)", err=True)


def _gateway_change(change: Callable[[Session], object]) -> object:
    """Apply a change to one gateway, commit it, then reload the broker's credentials."""
    try:
        with session_scope(actor()) as session:
            result = change(session)
    except UnknownGateway as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    _sync_broker()
    return result


@gateway_app.command("rotate")
def gateway_rotate(gateway_id: Annotated[str, typer.Argument(help="e.g. JL-TSF-0007-GW01")]) -> None:
    """A new password, printed once; the old one is refused once the broker has reloaded."""
    password = _gateway_change(lambda s: rotate_password(s, gateway_id))
    typer.echo(f"gateway id: {gateway_id}\npassword:   {password}\n(shown once: store it in the gateway now)")


@gateway_app.command("disable")
def gateway_disable(gateway_id: Annotated[str, typer.Argument()]) -> None:
    """Remove the gateway from the broker's password file: it can no longer connect, and a
    connection already open is closed when the broker reloads (see docs/mqtt.md)."""
    _gateway_change(lambda s: set_disabled(s, gateway_id, True))
    typer.echo(f"{gateway_id} disabled")


@gateway_app.command("enable")
def gateway_enable(gateway_id: Annotated[str, typer.Argument()]) -> None:
    """Let a disabled gateway connect again, with its existing password."""
    _gateway_change(lambda s: set_disabled(s, gateway_id, False))
    typer.echo(f"{gateway_id} enabled")


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option()] = Role.viewer,
    name: Annotated[str, typer.Option(help="who or what holds it")] = "",
    days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="valid for this many days (default RISKMAP_TOKEN_DAYS, 90)")
    ] = None,
    org: Annotated[
        str | None,
        typer.Option(help="act within this organisation: a region code (220283) or a credit code; default: all"),
    ] = None,
) -> None:
    """Create an API token with a role and an expiry; it is printed once."""
    with session_scope(actor()) as session:
        try:
            holder = organisation(session, org) if org else None
        except OrganisationNotFound as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from exc
        token = create_token(session, name or f"{role}-{int(time.time())}", role, days, holder)
    typer.echo(token)


def _when(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if t else "-"


@token_app.command("list")
def token_list() -> None:
    """Every token: id, name, role, created, expires, revoked, last used (never the secret)."""
    now = datetime.now(UTC)
    with session_scope(actor()) as session:
        typer.echo("id\tname\trole\tcreated\texpires\trevoked\tlast used\tstate")
        for t in list_tokens(session):
            state = "revoked" if t.revoked_at else "expired" if t.expires_at and t.expires_at <= now else "active"
            typer.echo(
                f"{t.id}\t{t.name}\t{t.role}\t{_when(t.created_at)}\t{_when(t.expires_at)}\t"
                f"{_when(t.revoked_at)}\t{_when(t.last_used_at)}\t{state}"
            )


@token_app.command("revoke")
def token_revoke(
    name_or_id: Annotated[str, typer.Argument(help="the token's id, or its name (all of that name)")],
) -> None:
    """Revoke a token at once: it answers 401 from now on."""
    try:
        with session_scope(actor()) as session:
            revoked = revoke_token(session, name_or_id)
            ids = [t.id for t in revoked]
    except TokenNotFound as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"revoked {len(ids)} token(s): {', '.join(map(str, ids))}")


# --- users -------------------------------------------------------------------------------------


def _cli_principal() -> Principal:
    """The command line acts for the whole platform, as the OS user running it."""
    return Principal(actor=actor(), name=getpass.getuser(), roles=frozenset({Role.admin}), scope=Scope.all)


@contextlib.contextmanager
def _account_change() -> Iterator[Session]:
    """A transaction for one account change; a refusal is printed (in Chinese, as on the pages)."""
    try:
        with session_scope(actor()) as session:
            yield session
    except DomainError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _read_password(stdin: bool) -> str | None:
    """A password from standard input (one line) with --password-stdin, else None (generated)."""
    return sys.stdin.readline().rstrip("\n") if stdin else None


RoleOption = Annotated[list[Role], typer.Option("--role", help="repeat for several roles")]


@user_app.command("add")
def user_add(
    org: Annotated[str, typer.Option(help="the organisation: an adcode (bureau) or a credit code (enterprise)")],
    role: RoleOption,
    name: Annotated[str, typer.Option(help="the person's name, e.g. 张三")],
    login: Annotated[str, typer.Option(help="the login, e.g. zhangsan")],
    mobile: Annotated[str | None, typer.Option(help="11-digit mobile number")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Add a user; the initial password is generated and printed once (unless --password-stdin)."""
    given = _read_password(password_stdin)
    with _account_change() as session:
        user, password = accounts.create_user(
            session, _cli_principal(), org_code=org, login=login, name=name, roles=role, mobile=mobile, password=given
        )
        created = user.login
    typer.echo(f"user: {created}")
    if given is None:
        typer.echo(f"password: {password}\n(shown once: hand it to the person, who changes it at /account)")


@org_app.command("add")
def org_add(
    code: Annotated[str, typer.Option(help="its own code, e.g. SLT-220000")],
    name: Annotated[str, typer.Option(help="e.g. 吉林省水利厅")],
    region: Annotated[str, typer.Option(help="the region it covers: 220000, 220200, 220283 …")],
) -> None:
    """Add a department that shares information (水利, 气象, 自然资源 …); its users read only."""
    try:
        with session_scope(actor()) as session:
            org = organisations.add_department(session, code, name, region)
            typer.echo(f"{org.code}\t{org.name}\t{org.region_adcode}")
    except DomainError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@org_app.command("list")
def org_list(kind: Annotated[str | None, typer.Option(help="bureau, department or enterprise")] = None) -> None:
    """Code, kind, name and region of every organisation."""
    with session_scope(actor()) as session:
        typer.echo("code\tkind\tname\tregion")
        for o in organisations.list_organisations(session, kind):
            typer.echo(f"{o.code}\t{o.kind}\t{o.name}\t{o.region_adcode}")


@user_app.command("list")
def user_list(org: Annotated[str | None, typer.Option(help="only this organisation's users")] = None) -> None:
    """Login, name, organisation, roles, state (never a password)."""
    with session_scope(actor()) as session:
        typer.echo("login\tname\torganisation\troles\tstate\tlast login")
        for u, o in accounts.list_users(session, _cli_principal(), org):
            state = "disabled" if u.disabled else "active"
            typer.echo(
                f"{u.login}\t{u.name}\t{o.code} {o.name}\t{','.join(u.roles)}\t{state}\t{_when(u.last_login_at)}"
            )


@user_app.command("disable")
def user_disable(login: Annotated[str, typer.Argument()]) -> None:
    """Disable a user: they cannot sign in, and their sessions end at once."""
    with _account_change() as session:
        accounts.set_disabled(session, _cli_principal(), login, True)
    typer.echo(f"{login} disabled")


@user_app.command("enable")
def user_enable(login: Annotated[str, typer.Argument()]) -> None:
    """Let a disabled user sign in again (their lockout is cleared too)."""
    with _account_change() as session:
        accounts.set_disabled(session, _cli_principal(), login, False)
    typer.echo(f"{login} enabled")


@user_app.command("passwd")
def user_passwd(
    login: Annotated[str, typer.Argument()],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Reset a user's password (printed once unless --password-stdin); their sessions end."""
    given = _read_password(password_stdin)
    with _account_change() as session:
        password = accounts.set_password(session, _cli_principal(), login, given)
    typer.echo(f"{login}: password changed")
    if given is None:
        typer.echo(f"password: {password}\n(shown once)")


@user_app.command("roles")
def user_roles(login: Annotated[str, typer.Argument()], role: RoleOption) -> None:
    """Replace a user's roles."""
    with _account_change() as session:
        user = accounts.set_roles(session, _cli_principal(), login, role)
        roles = ",".join(user.roles)
    typer.echo(f"{login}: {roles}")


@services_app.command("up")
def services_up() -> None:
    """Start the private services (those not configured externally) and leave them running."""
    for name, url in default_stack().up().items():
        typer.echo(f"{name}: {url.split('@')[-1]}")


@services_app.command("down")
def services_down() -> None:
    default_stack().down()


@app.command("regrade")
def regrade_cmd() -> None:
    """Grade every site now and store the levels, their reasons and any changes."""
    with session_scope(actor()) as session:
        report = regrade(session)
    typer.echo(f"{report.graded} sites graded, {report.changed} changed level")
    for code, error in report.errors.items():
        typer.echo(f"  {code}: {error}", err=True)


@app.command("export-map")
def export_map_cmd(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="the HTML file to write")],
    org: Annotated[
        str | None,
        typer.Option(help="only this organisation's jurisdiction (220283, or a credit code); default: the province"),
    ] = None,
) -> None:
    """Write a self-contained four-colour map (assets and data inlined) for reports: of the whole
    province, or, with --org, of what that organisation may see (row-level security applies)."""
    from fastapi.testclient import TestClient

    from backend.api.deps import export_as
    from backend.api.main import create_app

    with session_scope(actor()) as session:
        try:
            holder = organisation(session, org) if org else None
        except OrganisationNotFound as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
    web = create_app()
    export_as(web, holder)
    with TestClient(web) as client:
        html = export_map(lambda path: client.get(path).json())
    file.write_text(html, encoding="utf-8")
    typer.echo(f"wrote {file} ({len(html) // 1024} KB)")


def _regrade_every(seconds: float, stop: threading.Event) -> None:
    """Time-based rules (a site falling silent, the flood season) need regrading without input; 叫应
    deadlines and unacknowledged alarms escalate on the same beat."""
    while not stop.wait(seconds):
        try:
            with session_scope("system:regrade") as session:
                regrade(session)
                now = utcnow()
                escalation.sweep(session, now)
                alarm_escalation.sweep(session, now)
                hazard_lifecycle.sweep(session, now)  # overdue hidden hazards, escalation
        except Exception as exc:
            typer.echo(f"regrade failed: {exc}", err=True)


def _until_signalled() -> threading.Event:
    """An event set by SIGINT, SIGTERM or SIGHUP, for a loop that then stops in order; a second
    signal changes nothing (no KeyboardInterrupt halfway through the stop)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    return stop


class _Interrupted(BaseException):
    """The first stop signal, raised inside an interruptible step of `up`'s start-up."""


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP ask `up` to stop, whoever sends them (to the process or its
    group) and in whatever order. The first sets `event`; inside an interruptible step
    (migrating, seeding, grading: transactions that roll back) it also raises _Interrupted, so
    that the start-up is not waited for. `up` never cuts short its own start or stop of the
    services (a pg_ctl that got the group's signal fails, quietly), and later signals change
    nothing: the stop always runs to its end."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.received: str | None = None
        self._interruptible = False
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.event.is_set():
            return
        self.received = signal.Signals(signum).name
        self.event.set()
        if self._interruptible:
            self._interruptible = False
            raise _Interrupted(self.received)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        if self.event.is_set():
            raise _Interrupted(self.received)
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False


def _web_server(bind: str, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """uvicorn in a thread, so that signals stay with `up`'s main thread, which stops the
    server in its turn (open event streams get 5 s)."""
    config = uvicorn.Config(
        "backend.api.main:create_app",
        factory=True,
        host=bind,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    return server, thread


def _supervise(
    stop: threading.Event, children: list[Supervised], server: uvicorn.Server, web: threading.Thread, note: str = ""
) -> bool:
    """Keep the children alive until a stop signal; False when the web server ended by itself."""
    announced = False
    while not stop.wait(0.2):
        if not web.is_alive():
            typer.echo("the web server stopped (see above); stopping everything", err=True)
            return False
        if server.started and not announced:
            s = server.config
            typer.echo(f"\nriskmap is running: http://{s.host}:{s.port}/  (API docs at /docs; Ctrl-C stops)\n")
            if note:
                typer.echo(note + "\n")
            if api_settings().public_access != "sites":  # RISKMAP_PUBLIC_MAP: site details need a token
                typer.echo(
                    "site details need a sign-in (above), or for programs a token:"
                    " riskmap token create --role viewer --org 220283\n"
                )
            announced = True
        for child in children:
            child.check()
    return True


@app.command("ingest")
def ingest_cmd(
    name: Annotated[str | None, typer.Option(help="this ingester's name (MQTT client id)")] = None,
) -> None:
    """Run the MQTT ingester; several can share the work (Ctrl-C stops)."""
    stop = _until_signalled()
    from backend.core.db import engine
    from ingest.ingester import Ingester

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    ingester = Ingester(engine(), name)
    ingester.run(stop)
    typer.echo(f"ingester stopped: {ingester.stats}")


@app.command("deliver")
def deliver_cmd(
    name: Annotated[str | None, typer.Option(help="this worker's name (recorded with each attempt)")] = None,
) -> None:
    """Run the delivery worker: broadcasts to site topics and webhooks from the outbox, with
    retries (several can run at once; Ctrl-C stops)."""
    from backend.core.db import engine
    from backend.warnings.delivery import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    worker = Worker(engine(), name)
    worker.run(_until_signalled())
    typer.echo(f"delivery worker stopped: {worker.delivered} delivered, {worker.failed} failed attempts")


@app.command("simulate")
def simulate_cmd(
    speed: Annotated[float, typer.Option(help="how much faster than real time sensors report")] = 1.0,
    rate: Annotated[float, typer.Option(help="messages per second at most")] = 1000.0,
    site: Annotated[list[str] | None, typer.Option(help="only these sites")] = None,
    limit: Annotated[int | None, typer.Option(help="only this many gateways")] = None,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    excursions: Annotated[float, typer.Option(help="chance a reading starts an excursion")] = 0.004,
) -> None:
    """Publish realistic readings for the sample sensors through each gateway's own credentials."""
    stop = _until_signalled()
    from backend.core.db import engine
    from backend.core.mqtt import BrokerAddress
    from backend.registry.seed import DEMO_SECRETS
    from ingest.simulator import Simulator, load_gateways

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    gateways = load_gateways(engine(), paths().data_dir / DEMO_SECRETS, site, limit)
    typer.echo(f"simulating {len(gateways)} gateways, {sum(len(g.sensors) for g in gateways)} sensors")
    sim = Simulator(gateways, BrokerAddress.parse(mqtt_url()), speed, rate, excursions)
    published = sim.run(stop, duration)
    typer.echo(f"published {published} messages")


PortOption = Annotated[
    int | None, typer.Option("--port", min=1, max=65535, help="web server port (default RISKMAP_PORT, 8000)")
]
BindOption = Annotated[
    str | None, typer.Option("--bind", help="address to listen on (default RISKMAP_BIND, 127.0.0.1)")
]


@app.command()
def serve(port: PortOption = None, bind: BindOption = None) -> None:
    """Run the web application (API and map)."""
    import uvicorn

    s = api_settings()
    uvicorn.run("backend.api.main:create_app", factory=True, host=bind or s.bind, port=port or s.port, log_level="info")


@app.command()
def up(
    seed_data: Annotated[bool, typer.Option("--seed/--no-seed")] = True,
    simulate: Annotated[bool, typer.Option(help="also run the gateway simulator")] = False,
    speed: Annotated[float, typer.Option(help="simulator speed factor")] = 10.0,
    port: PortOption = None,
    bind: BindOption = None,
) -> None:
    """Start everything: private services when none are configured, schema, sample data, the
    ingester, the web app, and with --simulate the gateways.

    Ctrl-C (or SIGTERM, to the process or its group) stops them all and the private services.
    The ingester and the simulator are started again if they die.
    """
    stack = default_stack()
    stack.data_dir.mkdir(parents=True, exist_ok=True)
    lock = (stack.data_dir / "up.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        typer.echo(f"another `riskmap up` is running with {stack.data_dir}; stop it first", err=True)
        raise typer.Exit(1) from None
    stopping = _StopSignals()
    _log_to_stderr("riskmap")
    children: list[Supervised] = []
    web: tuple[uvicorn.Server, threading.Thread] | None = None
    regrader: threading.Thread | None = None
    demo: tuple[list[DemoAccount], Path] | None = None
    web_failed = False
    try:
        stack.up()
        with stopping.interruptible():
            upgrade(database_url())
            with session_scope(actor()) as session:
                if seed_data:
                    for report in seed_sample(session, paths().data_dir):
                        _print_report(report)
                    demo = seed_demo_accounts(session, paths().data_dir)
                    sample_hazards.load(session, datetime.now(UTC))
                sync_broker_auth(session)
                report = regrade(session)
                if seed_data:
                    now = datetime.now(UTC)
                    if plan := ensure_demo_plan(session, now.astimezone(CHINA_TZ).date(), now):
                        typer.echo(f"sample inspection plan for the province: version {plan.version} (/draws)")
                    if done := sample_inspections.load(session, now.astimezone(CHINA_TZ).date()):
                        typer.echo(f"sample inspections: {done} (/inspections)")
            typer.echo(f"{report.graded} sites graded")
        if stopping.event.is_set():
            raise _Interrupted(stopping.received)
        interval = RiskSettings().regrade_interval_s
        regrader = threading.Thread(target=_regrade_every, args=(interval, stopping.event), daemon=True)
        regrader.start()
        children.append(Supervised("ingester", child_argv("ingest", "--name", "ingest-1")))
        children.append(Supervised("delivery worker", child_argv("deliver", "--name", "deliver-1")))
        if simulate:
            children.append(Supervised("simulator", child_argv("simulate", "--speed", str(speed))))
        for child in children:
            child.start()
        s = api_settings()
        web = _web_server(bind or s.bind, port or s.port)
        host = bind or s.bind
        note = how_to_sign_in(f"http://{host}:{port or s.port}/", *demo) if demo else ""
        web_failed = not _supervise(stopping.event, children, *web, note=note)
    except _Interrupted:
        pass
    except Exception:
        if not stopping.event.is_set():
            raise
        # A step cut short by the stop itself (pg_ctl got the group's signal): nothing to report.
    finally:
        stopping.event.set()
        if web:
            web[0].should_exit = True
            web[1].join(15)
        stop_all(children)
        if regrader:
            regrader.join(15)
        stack.down()
        typer.echo(f"stopped ({stopping.received})" if stopping.received else "stopped")
    if web_failed:
        raise typer.Exit(1)


def _log_to_stderr(name: str) -> None:
    """Show this logger's records (service ports, children restarted) without configuring the
    root logger, whose handlers uvicorn and Alembic set up their own way."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


if __name__ == "__main__":
    app()
