"""Passwords: argon2id hashes (pwdlib) and the policy a new password must meet.

The policy (RISKMAP_PASSWORD_MIN_LENGTH, RISKMAP_PASSWORD_MIN_CLASSES): long enough, of enough
character classes, not the login, and not in the bundled list of common passwords. Messages are
Chinese: they are shown on the account and user pages.
"""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path

from pwdlib import PasswordHash

from backend.core.config import AccountSettings
from backend.domain.errors import Invalid

COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
# Generated passwords avoid look-alikes (0/O, 1/l/I) so that they can be read out over the phone.
_ALPHABETS = ("abcdefghijkmnpqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ", "23456789", "#%+-=?@")


class PasswordRejected(Invalid):
    """A password the policy refuses; the message says why, in Chinese."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="password")


@cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()  # argon2id with the library's current parameters


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(x.strip().lower() for x in lines if x.strip() and not x.startswith("#"))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, stored: str) -> tuple[bool, str | None]:
    """Whether `password` matches; the second value is a new hash when the stored one uses older
    parameters (to be saved), else None."""
    try:
        return _hasher().verify_and_update(password, stored)
    except Exception:  # an unreadable stored hash matches nothing
        return False, None


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def waste_a_verification(password: str) -> None:
    """Take as long as a real check, so that timing does not tell which logins exist."""
    verify_password(password, _dummy_hash())


def _classes(password: str) -> int:
    tests = (str.islower, str.isupper, str.isdigit)
    found = {i for c in password for i, t in enumerate(tests) if t(c)}
    if any(not (c.islower() or c.isupper() or c.isdigit()) for c in password):
        found.add(3)
    return len(found)


def policy_problems(password: str, login: str = "", settings: AccountSettings | None = None) -> list[str]:
    """Why the policy refuses `password`; empty when it is acceptable."""
    s = settings or AccountSettings()
    problems = []
    if len(password) < s.password_min_length:
        problems.append(f"密码至少需要 {s.password_min_length} 个字符")
    if _classes(password) < s.password_min_classes:
        problems.append(f"密码需包含小写字母、大写字母、数字、符号中的至少 {s.password_min_classes} 类")
    if login and login.lower() in password.lower():
        problems.append("密码不能包含用户名")
    if password.lower() in common_passwords():
        problems.append("密码过于常见，请换一个")
    return problems


def check_policy(password: str, login: str = "") -> None:
    problems = policy_problems(password, login)
    if problems:
        raise PasswordRejected("；".join(problems))


def generate_password(login: str = "", length: int = 14) -> str:
    """A random password meeting the policy (every class present), for new accounts and resets."""
    rng = secrets.SystemRandom()
    while True:
        chars = [rng.choice(a) for a in _ALPHABETS]
        pool = "".join(_ALPHABETS[:3])
        chars += [rng.choice(pool) for _ in range(max(length, AccountSettings().password_min_length) - len(chars))]
        rng.shuffle(chars)
        password = "".join(chars)
        if not policy_problems(password, login):
            return password


__all__ = [
    "PasswordRejected",
    "check_policy",
    "generate_password",
    "hash_password",
    "policy_problems",
    "verify_password",
]
