"""Donor sign-in for custodial donors known by phone or e-mail: one-time codes and sessions.

    code = await request_code(platform, "+86 139 0000 0001")   # sent by the configured sender
    session = await verify_code(platform, contact, "123456")    # -> MemberSession, or raises

Codes are 6 digits, kept only as a keyed hash, valid for 10 minutes and 5 attempts, compared in
constant time; a new code replaces the old one, at most one a minute per contact. A session is
a random token (stored hashed) carried in an HttpOnly SameSite=Strict cookie, with its own CSRF
token for every POST (web/members.py). None of this touches the log: the contact is only ever
a keyed hash here, and the code goes to the sender, never to storage.

The sender is chosen by `HEARTCHAIN_OTP_SENDER`: `console` (the server's log; the default, for
the demo), `file:<path>` (one line per code appended, for tests), or `module:attribute` naming a
`CodeSender` (an SMS or e-mail gateway adapter).
"""

from __future__ import annotations

import hmac
import importlib
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from heartchain.errors import PermissionDenied, ValidationError
from heartchain.keys import Address
from heartchain.ledger.entries import format_time, parse_time
from heartchain.platform import Platform
from heartchain.privacy import keyed_hash
from tokens import donors
from tokens.donors import normalise_contact
from tokens.models import MemberSession, SignInCode

CODE_LIFETIME = timedelta(minutes=10)
CODE_ATTEMPTS = 5
CODE_INTERVAL = timedelta(minutes=1)
SESSION_LIFETIME = timedelta(hours=8)
logger = logging.getLogger(__name__)


class CodeSender(Protocol):
    async def send(self, contact: str, code: str) -> None: ...


class ConsoleSender:
    async def send(self, contact: str, code: str) -> None:
        logger.warning("sign-in code for %s: %s", contact, code)


@dataclass(frozen=True)
class FileSender:
    path: Path

    async def send(self, contact: str, code: str) -> None:
        with self.path.open("a") as out:
            out.write(f"{contact} {code}\n")


def sender_from_env(value: str | None = None) -> CodeSender:
    spec = value if value is not None else os.environ.get("HEARTCHAIN_OTP_SENDER", "console")
    if spec == "console":
        return ConsoleSender()
    if spec.startswith("file:"):
        return FileSender(Path(spec[len("file:"):]))
    module, _, attribute = spec.partition(":")
    if not attribute:
        raise ValueError(f"HEARTCHAIN_OTP_SENDER: {spec!r} is not console, file:<path> or "
                         "module:attribute")
    sender: CodeSender = getattr(importlib.import_module(module), attribute)()
    return sender


async def addresses_for_contact(platform: Platform, contact: str) -> list[Address]:
    """Every donor address known for a phone or e-mail, across charities. Sign-in asks only to
    decide whether to send a code (its answer is the same either way) and after the code proved
    the person holds the contact."""
    return await donors.addresses_for_contact(platform, contact)


def _code_hash(platform: Platform, contact_hash: str, code: str) -> str:
    return keyed_hash(platform, "signin-code", f"{contact_hash}\n{code}")


class CodeRefused(PermissionDenied):
    """A wrong, expired or exhausted one-time code (one message for all: no oracle)."""


async def request_code(platform: Platform, contact: str, *,
                       sender: CodeSender | None = None) -> None:
    """Send a fresh code to `contact` if it belongs to a donor. Answers the same either way, so
    nobody learns from it whether a phone number is a donor's."""
    normal = normalise_contact(contact)
    if not await addresses_for_contact(platform, normal):
        return
    contact_hash = keyed_hash(platform, "signin-contact", normal)
    now = platform.clock.now()
    existing = await SignInCode.get_or_none(contact_hash=contact_hash)
    if existing is not None and parse_time(existing.sent_at) + CODE_INTERVAL > now:
        raise ValidationError("a code was sent less than a minute ago: wait, then ask again",
                              field="contact")
    code = f"{secrets.randbelow(10**6):06d}"
    code_hash = _code_hash(platform, contact_hash, code)
    sent_at, expires_at = format_time(now), format_time(now + CODE_LIFETIME)
    if existing is None:
        await SignInCode.create(contact_hash=contact_hash, code_hash=code_hash, sent_at=sent_at,
                                expires_at=expires_at, attempts=0)
    else:
        await SignInCode.filter(contact_hash=contact_hash).update(
            code_hash=code_hash, sent_at=sent_at, expires_at=expires_at, attempts=0)
    await (sender or sender_from_env()).send(normal, code)


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str
    addresses: list[Address]


async def verify_code(platform: Platform, contact: str, code: str) -> Session:
    """A new session for the donor, if `code` is the contact's current code."""
    normal = normalise_contact(contact)
    contact_hash = keyed_hash(platform, "signin-contact", normal)
    row = await SignInCode.get_or_none(contact_hash=contact_hash)
    refused = CodeRefused("that code is wrong or expired: ask for a new one")
    if row is None:
        raise refused
    if row.attempts >= CODE_ATTEMPTS or parse_time(row.expires_at) <= platform.clock.now():
        raise refused  # the row stays, so asking for the next code still waits its minute
    # Counted before comparing, so parallel guesses cannot exceed the limit.
    await SignInCode.filter(contact_hash=contact_hash).update(attempts=row.attempts + 1)
    given = _code_hash(platform, contact_hash, code.strip())
    if not hmac.compare_digest(given, row.code_hash):
        raise refused
    await SignInCode.filter(contact_hash=contact_hash).delete()
    return await start_session(platform, await addresses_for_contact(platform, normal))


async def start_session(platform: Platform, addresses: list[Address]) -> Session:
    """A new session for `addresses`: after a code proved the contact, or an API token the
    account (web/coverage.py signs a mutual-aid member in with their member token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await MemberSession.create(token_hash=keyed_hash(platform, "member-session", token),
                               csrf=csrf, addresses=list(addresses),
                               expires_at=format_time(platform.clock.now() + SESSION_LIFETIME))
    return Session(token, csrf, addresses)


async def session_of(platform: Platform, token: str | None) -> Session | None:
    if not token:
        return None
    row = await MemberSession.get_or_none(token_hash=keyed_hash(platform, "member-session",
                                                                token))
    if row is None:
        return None
    if parse_time(row.expires_at) <= platform.clock.now():
        await row.delete()
        return None
    return Session(token, row.csrf, [Address(a) for a in row.addresses])


async def end_session(platform: Platform, token: str) -> None:
    await MemberSession.filter(token_hash=keyed_hash(platform, "member-session", token)).delete()


def csrf_ok(session: Session, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(session.csrf.encode(), given.encode())
