from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from heartchain.errors import ValidationError
from tests.conftest import Ledger
from tests.tokens import factories as f
from tokens import services, signin
from tokens.models import MemberSession, SignInCode

PHONE = "+8613900000001"


@dataclass
class Captured:
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, contact: str, code: str) -> None:
        self.sent.append((contact, code))


async def test_a_code_signs_the_donor_in_once(ledger: Ledger) -> None:
    p = ledger.platform
    donor = await services.donor_for_contact(p, PHONE, charity=await f.charity(ledger))
    size = await p.log.size()
    sender = Captured()
    await signin.request_code(p, "139 0000 0001", sender=sender)
    [(contact, code)] = sender.sent
    assert contact == PHONE and len(code) == 6
    stored = await SignInCode.all()
    assert len(stored) == 1 and code not in str(stored[0].__dict__)
    session = await signin.verify_code(p, PHONE, code)
    assert session.addresses == [donor.address]
    again = await signin.session_of(p, session.token)
    assert again is not None and again.addresses == [donor.address]
    assert session.token not in str([r.__dict__ for r in await MemberSession.all()])
    with pytest.raises(signin.CodeRefused):
        await signin.verify_code(p, PHONE, code)  # used up
    assert signin.csrf_ok(session, session.csrf) and not signin.csrf_ok(session, "x")
    await signin.end_session(p, session.token)
    assert await signin.session_of(p, session.token) is None
    assert await p.log.size() == size  # nothing of this reaches the log


async def test_wrong_expired_and_exhausted_codes(ledger: Ledger) -> None:
    p = ledger.platform
    await services.donor_for_contact(p, PHONE, charity=await f.charity(ledger))
    sender = Captured()
    await signin.request_code(p, PHONE, sender=sender)
    code = sender.sent[-1][1]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(signin.CODE_ATTEMPTS):
        with pytest.raises(signin.CodeRefused):
            await signin.verify_code(p, PHONE, wrong)
    with pytest.raises(signin.CodeRefused):  # the right code, too late: attempts exhausted
        await signin.verify_code(p, PHONE, code)
    with pytest.raises(ValidationError, match="minute"):
        await signin.request_code(p, PHONE, sender=sender)
    p.clock.advance(timedelta(minutes=2))
    await signin.request_code(p, PHONE, sender=sender)
    p.clock.advance(signin.CODE_LIFETIME)
    with pytest.raises(signin.CodeRefused):
        await signin.verify_code(p, PHONE, sender.sent[-1][1])


async def test_unknown_contacts_get_the_same_answer_and_no_code(ledger: Ledger) -> None:
    sender = Captured()
    await signin.request_code(ledger.platform, "+8613911112222", sender=sender)
    assert sender.sent == []
    with pytest.raises(signin.CodeRefused):
        await signin.verify_code(ledger.platform, "+8613911112222", "000000")


async def test_senders(tmp_path: Path) -> None:
    sender = signin.sender_from_env(f"file:{tmp_path / 'codes.txt'}")
    await sender.send(PHONE, "123456")
    assert (tmp_path / "codes.txt").read_text() == f"{PHONE} 123456\n"
    assert isinstance(signin.sender_from_env("console"), signin.ConsoleSender)
    custom = signin.sender_from_env("tests.tokens.test_signin:Captured")
    assert isinstance(custom, Captured)
    with pytest.raises(ValueError):
        signin.sender_from_env("sms")
