"""Phone numbers of the people a warning must reach: validated, normalised and masked. Pure.

A mainland mobile number is 11 digits starting 1[3-9] (工信部 号段); it is stored without a
country code or separators, so that one person is one number however it was typed. A landline
is kept as typed once its shape is checked (area code, number, optional extension).
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-()（）]")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")


class PhoneInvalid(ValueError):
    """The text is not a number of the expected kind; the message says why, in Chinese."""


def normalise_mobile(text: str) -> str:
    """The 11-digit mobile number in `text`, which may carry +86 / 0086 / 86 and spaces or dashes."""
    digits = _SEPARATORS.sub("", text.strip())
    for prefix in ("+86", "0086"):
        digits = digits.removeprefix(prefix)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not _MOBILE.match(digits):
        raise PhoneInvalid(f"手机号码无效：{text.strip()[:32]!r}（应为 11 位、以 13–19 开头的大陆手机号）")
    return digits


def normalise_landline(text: str) -> str:
    """A landline as 区号-号码[-分机], spaces and brackets dropped."""
    compact = re.sub(r"[\s()（）]", "", text.strip()).removeprefix("+86")
    if not _LANDLINE.match(compact):
        raise PhoneInvalid(f"固定电话无效：{text.strip()[:32]!r}（应为 区号-号码，如 0432-62345678）")
    if "-" not in compact:  # 4-digit area codes are the common case outside the big cities
        cut = 3 if compact[:3] in {"010", "020", "021", "022", "023", "024", "025", "027", "028", "029"} else 4
        compact = f"{compact[:cut]}-{compact[cut:]}"
    return compact


def mask(phone: str | None) -> str | None:
    """A number as shown to someone who may not see it in full: 138****1234 (the first three and the
    last four digits of a mobile; a landline keeps its area code and last two digits)."""
    if phone is None:
        return None
    if _MOBILE.match(phone):
        return f"{phone[:3]}****{phone[-4:]}"
    area, _, rest = phone.partition("-")
    if not rest:
        return "*" * max(len(phone) - 2, 0) + phone[-2:]
    return f"{area}-{'*' * max(len(rest) - 2, 0)}{rest[-2:]}"
