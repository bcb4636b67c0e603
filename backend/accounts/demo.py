"""Demo accounts for `make demo`: an administrator of the province, a regulator and a duty officer
for every prefecture and for a few counties with sample sites (and an administrator of 舒兰市), and
an enterprise user for some of their enterprises.

Passwords are generated, kept (mode 600) in the data folder next to the demo gateway secrets, and
reused; an account that exists is left alone, so seeding twice changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.accounts import users as accounts
from backend.accounts.passwords import generate_password
from backend.core.principal import platform
from backend.models import Enterprise, Organisation, User

DEMO_ACCOUNTS = "demo-accounts.json"
PROVINCE = "220000"
# 舒兰市 and the two counties with the most sample sites outside 吉林市's 舒兰市: 龙潭区 and 珲春市.
DEMO_COUNTIES = ("220283", "220203", "222404")
ENTERPRISES_PER_COUNTY = 2
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = (
    "建国",
    "海燕",
    "志强",
    "秀英",
    "明",
    "丽娟",
    "国庆",
    "晓东",
    "春梅",
    "立新",
    "红梅",
    "永刚",
    "玉兰",
    "德胜",
    "雪松",
)


@dataclass(frozen=True)
class DemoAccount:
    login: str
    org: str
    roles: tuple[str, ...]
    what: str  # for the printed summary


def _name(i: int) -> str:
    return SURNAMES[(i * 7) % len(SURNAMES)] + GIVEN[i % len(GIVEN)]


def _mobile(i: int) -> str:
    return f"139{4320000 + i * 37:08d}"[:11]


def demo_accounts(session: Session) -> list[DemoAccount]:
    """The accounts the demo gives, from the organisations in the register."""
    out = [DemoAccount("jl-admin", PROVINCE, ("admin",), "吉林省应急管理厅 管理员")]
    prefectures = session.scalars(
        select(Organisation.code).where(Organisation.kind == "bureau", Organisation.code.like("%00"))
    ).all()
    for code in sorted(c for c in prefectures if c != PROVINCE and not c.endswith("0000")):
        out.append(DemoAccount(f"jg{code}", code, ("regulator",), "市州 监管人员"))
        out.append(DemoAccount(f"zb{code}", code, ("duty",), "市州 值班员"))
    for code in DEMO_COUNTIES:
        out.append(DemoAccount(f"jg{code}", code, ("regulator",), "县市区 监管人员"))
        out.append(DemoAccount(f"zb{code}", code, ("duty",), "县市区 值班员"))
        enterprises = session.scalars(
            select(Enterprise.credit_code)
            .where(Enterprise.region_adcode == code)
            .order_by(Enterprise.credit_code)
            .limit(ENTERPRISES_PER_COUNTY)
        ).all()
        out += [DemoAccount(f"qy{cc.lower()}", cc, ("enterprise",), "企业用户") for cc in enterprises]
    out.append(DemoAccount("gl220283", "220283", ("admin", "regulator"), "舒兰市应急管理局 管理员"))
    return out


def seed_demo_accounts(session: Session, data_dir: Path) -> tuple[list[DemoAccount], Path]:
    """Create the demo accounts that are missing; returns them all and the passwords file."""
    secrets_file = data_dir / DEMO_ACCOUNTS
    passwords: dict[str, str] = json.loads(secrets_file.read_text()) if secrets_file.exists() else {}
    wanted = demo_accounts(session)
    existing = set(session.scalars(select(User.login).where(User.login.in_([a.login for a in wanted]))))
    caller = platform("demo")
    if not session.info.get("actor"):
        session.info["actor"] = caller.actor
    changed = False
    for i, account in enumerate(wanted):
        if account.login in existing:
            continue
        password = passwords.get(account.login) or generate_password(account.login)
        accounts.create_user(
            session,
            caller,
            org_code=account.org,
            login=account.login,
            name=_name(i),
            roles=account.roles,
            mobile=_mobile(i),
            password=password,
        )
        if passwords.get(account.login) != password:
            passwords[account.login] = password
            changed = True
    if changed or not secrets_file.exists():
        secrets_file.parent.mkdir(parents=True, exist_ok=True)
        secrets_file.touch(mode=0o600)
        secrets_file.chmod(0o600)
        secrets_file.write_text(json.dumps(passwords, ensure_ascii=False, indent=0, sort_keys=True))
    return wanted, secrets_file


def how_to_sign_in(url: str, wanted: list[DemoAccount], secrets_file: Path) -> str:
    """What the demo prints: where to sign in, a few logins, and where their passwords are."""
    shown = [a for a in wanted if a.login in {"jl-admin", "gl220283", "jg220283", "zb220283", "jg220200"}]
    shown += [a for a in wanted if a.roles == ("enterprise",)][:1]
    lines = [f"sign in at {url}login — demo accounts (passwords in {secrets_file}, mode 600):"]
    lines += [f"  {a.login:<24} {a.what} ({a.org})" for a in shown]
    lines.append(f"  … {len(wanted)} accounts in all: `riskmap user list`")
    return "\n".join(lines)
