"""Masking contact details for the approvers' `contacts` view: enough to recognise a number or an address
(the last 4 digits, the first letter and the domain), never enough to use it. Pure.

(The log formatter in oncallbot/logs.py masks free text with a different, harsher rule: the last 2 digits.)"""

import re

DOT = "\u2022"  # •


def mask_phone(phone: str | None) -> str | None:
    """"+14155550105" -> "+1 ••• ••• 0105" (NANP), any other number -> "•••• 4567"."""
    if not phone:
        return None
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 4:
        return DOT * 4
    last = digits[-4:]
    if phone.startswith("+") and len(digits) == 11 and digits[0] == "1":
        return f"+1 {DOT * 3} {DOT * 3} {last}"
    return f"{DOT * 4} {last}"


def mask_email(email: str | None) -> str | None:
    """"kelly.nguyen@example.com" -> "k•••@example.com"; no "@" -> "•••"."""
    if not email:
        return None
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return DOT * 3
    return f"{local[0]}{DOT * 3}@{domain}"


def mask_caller(number: str | None) -> str:
    """A caller's number as Slack and logs show it: "+14155550123" -> "••• ••• 0123"; a withheld number
    ("Anonymous", "+266696687", empty) -> "a withheld number"."""
    digits = re.sub(r"\D", "", number or "")
    if len(digits) < 7 or digits in WITHHELD_NUMBERS:
        return "a withheld number"
    return f"{DOT * 3} {DOT * 3} {digits[-4:]}"


# How carriers show a caller who withheld their number (Twilio passes them on as From).
WITHHELD_NUMBERS = ("266696687", "86282452253", "7378742833", "2562533", "8656696")
