from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from heartchain.errors import PermissionDenied, ValidationError
from heartchain.ledger.store import fetch
from heartchain.ledger.verify import verify_log
from heartchain.privacy import SealedSubject, SealedValue, read_personal
from tests.conftest import Ledger
from tests.factories import entry
from tests.tokens import factories as f
from tokens import services
from tokens.attest import attestation_key, public_key_b64, verify_attestation
from tokens.errors import (
    ChecksArePrivate,
    ConsentAlreadyRevoked,
    NoActiveConsent,
    NotYourConsent,
    StaleCheck,
)
from tokens.models import DonorContact


async def test_contact_maps_to_one_custodial_donor(ledger: Ledger) -> None:
    p = ledger.platform
    giver = await f.charity(ledger)
    first = await services.donor_for_contact(p, "138 0013 8000", charity=giver)
    again = await services.donor_for_contact(p, "+8613800138000", charity=giver)
    other = await services.donor_for_contact(p, "Li.Na@Example.org", charity=giver)
    same_mail = await services.donor_for_contact(p, "li.na@example.org ", charity=giver)
    assert first.created and not again.created and first.address == again.address
    assert other.created and same_mail.address == other.address != first.address
    assert await services.donor_contact(p, first.address) == "+8613800138000"
    rows = await fetch(p.log._conn(), "SELECT * FROM heart_charity_donor")
    stored = " ".join(str(v) for row in rows for v in row.values())
    assert "8613800138000" not in stored and "example.org" not in stored
    data = b"".join(bytes(r["data"]) for r in await fetch(p.log._conn(),
                                                         "SELECT data FROM log_entry"))
    assert b"13800138000" not in data and b"example.org" not in data


@pytest.mark.parametrize("contact", ["", "12", "not a phone", "a@b", "+12 34 ab 5678"])
async def test_bad_contacts(ledger: Ledger, contact: str) -> None:
    size = await ledger.platform.log.size()
    with pytest.raises(ValidationError):
        await services.donor_for_contact(ledger.platform, contact, charity=ledger.operator)
    assert await ledger.platform.log.size() == size


async def test_a_malformed_gift_creates_no_donor(ledger: Ledger) -> None:
    charity = await f.charity(ledger)
    size = await ledger.platform.log.size()
    for kind, quantity in (("gold", 1), ("cash", 0)):
        with pytest.raises(ValidationError):
            await services.record_donation_for_contact(
                ledger.platform, charity=charity, contact="+8613811112222", kind=kind,
                quantity=quantity, campaign="c")
    assert await ledger.platform.log.size() == size
    assert not await DonorContact.exists()
    donor, gift = await services.record_donation_for_contact(
        ledger.platform, charity=charity, contact="+8613811112222", kind="food", quantity=10,
        campaign="c")
    assert donor.created and (await services.get_donation(gift.index)).donor == donor.address


async def test_erasing_a_contact_keeps_verify_green(ledger: Ledger) -> None:
    p = ledger.platform
    charity = await f.charity(ledger)
    donor = await services.donor_for_contact(p, "+8613900000000", charity=charity)
    await services.record_donation(p, charity=charity, donor=donor.address, kind="cash",
                                   quantity=500, campaign="c")
    sealed = await SealedValue.get(subject_id=donor.address, field="contact")
    await services.erase_donor_contact(p, donor.address)
    assert await services.donor_contact(p, donor.address) is None
    assert not await DonorContact.filter(address=donor.address).exists()
    assert not await SealedSubject.filter(subject_id=donor.address).exists()
    assert bytes(sealed.sealed)  # a backup copy of the row is useless without the subject key
    assert (await services.score(donor.address)).total == 500
    await verify_log(p.log)
    fresh = await services.donor_for_contact(p, "+8613900000000", charity=charity)
    assert fresh.created and fresh.address != donor.address


async def test_sealed_values_are_bound_to_subject_and_field(ledger: Ledger) -> None:
    from heartchain.errors import VerificationError
    from heartchain.privacy import commitment, seal_personal, subject_salt

    p = ledger.platform
    await seal_personal(p, "s1", "name", "张三")
    await seal_personal(p, "s1", "phone", "+8613700000000")
    assert await read_personal(p, "s1", "name") == "张三"
    await seal_personal(p, "s1", "name", "张三丰")
    assert await read_personal(p, "s1", "name") == "张三丰"
    assert await read_personal(p, "s1", "missing") is None
    phone = await SealedValue.get(subject_id="s1", field="phone")
    await SealedValue.filter(subject_id="s1", field="name").update(sealed=phone.sealed)
    with pytest.raises(VerificationError):
        await read_personal(p, "s1", "name")
    salt = await subject_salt(p, "s1")
    assert salt == await subject_salt(p, "s1") and len(salt) == 32
    assert commitment(salt, "张三") != commitment(await subject_salt(p, "s2"), "张三")


# -- consent, checks, attestations -----------------------------------------------------------


async def consented(ledger: Ledger, hearts: int = 6_000) -> tuple[str, str, str, int]:
    p = ledger.platform
    charity, partner, member = (await f.charity(ledger), await f.partner(ledger),
                                await f.member(ledger))
    if hearts:
        await services.record_donation(p, charity=charity, donor=member, kind="cash",
                                       quantity=hearts, campaign="c")
    grant = await services.grant_consent(p, member=member, partner=partner,
                                         expires=p.clock.now() + timedelta(days=30))
    return charity, partner, member, grant.index


async def test_check_with_consent_answers_and_attests(ledger: Ledger) -> None:
    p = ledger.platform
    _, partner, member, _ = await consented(ledger)
    yes = await services.check_hearts(p, partner=partner, member=member, threshold=5_000)
    no = await services.check_hearts(p, partner=partner, member=member, threshold=6_001)
    assert yes.result and not no.result
    key = public_key_b64(attestation_key(p))
    verify_attestation(yes.attestation, key, p.clock.now())
    subject = yes.attestation["credentialSubject"]
    assert subject["heartScore"] == {"claim": "hearts ≥ 5000", "threshold": 5000,
                                     "meetsThreshold": True}
    assert subject["asOf"]["checkpointSize"] == yes.checkpoint_size
    signed = await p.log.checkpoint_at(yes.checkpoint_size)
    assert base64.b64decode(subject["asOf"]["rootHash"]) == signed.root_hash
    assert member not in str(yes.attestation)
    assert no.attestation["credentialSubject"]["heartScore"]["claim"] == "hearts < 6001"
    check = await services.get_check(yes.index)
    assert await services.attestation_for(p, check) == yes.attestation


async def test_pseudonyms_are_per_partner(ledger: Ledger) -> None:
    p = ledger.platform
    _, partner, member, _ = await consented(ledger)
    other = await f.partner(ledger, "Employer")
    await services.grant_consent(p, member=member, partner=other,
                                 expires=p.clock.now() + timedelta(days=1))
    a = await services.check_hearts(p, partner=partner, member=member, threshold=1)
    b = await services.check_hearts(p, partner=partner, member=member, threshold=2)
    c = await services.check_hearts(p, partner=other, member=member, threshold=1)
    ids = [x.attestation["credentialSubject"]["id"] for x in (a, b, c)]
    assert ids[0] == ids[1] != ids[2]
    assert a.attestation["id"] != b.attestation["id"]


async def test_no_check_without_consent(ledger: Ledger) -> None:
    p = ledger.platform
    _, partner, member, grant = await consented(ledger)
    stranger = await f.member(ledger)
    size = await p.log.size()
    with pytest.raises(NoActiveConsent):
        await services.check_hearts(p, partner=partner, member=stranger, threshold=1)
    other = await f.partner(ledger, "Shop")
    size = await p.log.size()
    with pytest.raises(NoActiveConsent):
        await services.check_hearts(p, partner=other, member=member, threshold=1)
    # the rule itself refuses, whatever a client claims: another partner naming this consent
    checkpoint = (await p.log.latest_checkpoint()).size
    body = {"partner": other, "member": member, "consent": grant, "threshold": 1,
            "checkpoint": checkpoint, "result": True}
    with pytest.raises(NoActiveConsent):
        await p.write("consent.check", body, [other])
    assert await p.log.size() == size


async def test_no_check_after_revocation(ledger: Ledger) -> None:
    p = ledger.platform
    _, partner, member, grant = await consented(ledger)
    checkpoint = (await p.log.latest_checkpoint()).size
    await services.revoke_consent(p, member=member, consent=grant)
    size = await p.log.size()
    with pytest.raises(NoActiveConsent):
        await services.check_hearts(p, partner=partner, member=member, threshold=1)
    with pytest.raises(NoActiveConsent, match="revoked"):
        await p.write("consent.check", {"partner": partner, "member": member, "consent": grant,
                                        "threshold": 1, "checkpoint": checkpoint,
                                        "result": True}, [partner])
    with pytest.raises(ConsentAlreadyRevoked):
        await services.revoke_consent(p, member=member, consent=grant)
    assert await p.log.size() == size


async def test_no_check_after_expiry(ledger: Ledger) -> None:
    p = ledger.platform
    _, partner, member, grant = await consented(ledger)
    ok = await services.check_hearts(p, partner=partner, member=member, threshold=1)
    p.clock.advance(timedelta(days=31))
    size = await p.log.size()
    with pytest.raises(NoActiveConsent):
        await services.check_hearts(p, partner=partner, member=member, threshold=1)
    with pytest.raises(NoActiveConsent, match="expired"):
        await p.write("consent.check", {"partner": partner, "member": member, "consent": grant,
                                        "threshold": 1, "checkpoint": ok.checkpoint_size,
                                        "result": True}, [partner])
    assert await p.log.size() == size


async def test_consent_signed_by_someone_else(ledger: Ledger) -> None:
    p = ledger.platform
    partner, member, intruder = (await f.partner(ledger), await f.member(ledger),
                                 await f.member(ledger))
    body = {"member": member, "partner": partner, "scope": "hearts.threshold",
            "expires": "2099-01-01T00:00:00.000Z"}
    size = await p.log.size()
    for signer in (intruder, partner, ledger.operator):
        with pytest.raises(PermissionDenied):
            await p.log.append(entry(ledger, "consent.grant", body,
                                     await p.custodial_key(signer)))
    grant = await p.write("consent.grant", body, [member])
    size = await p.log.size()
    with pytest.raises(PermissionDenied):
        await p.log.append(entry(ledger, "consent.revoke", {"member": member,
                                                            "consent": grant.index},
                                 await p.custodial_key(intruder)))
    with pytest.raises(NotYourConsent):
        await services.revoke_consent(p, member=intruder, consent=grant.index)
    assert await p.log.size() == size


async def test_bad_consents(ledger: Ledger) -> None:
    p = ledger.platform
    partner, member, charity = (await f.partner(ledger), await f.member(ledger),
                                await f.charity(ledger))
    good = {"member": member, "partner": partner, "scope": "hearts.threshold",
            "expires": "2099-01-01T00:00:00.000Z"}
    size = await p.log.size()
    for body, error in (({**good, "expires": "2000-01-01T00:00:00.000Z"}, ValidationError),
                        ({**good, "expires": "tomorrow"}, ValidationError),
                        ({**good, "scope": "everything"}, ValidationError),
                        ({**good, "partner": charity}, PermissionDenied)):
        with pytest.raises(error):
            await p.write("consent.grant", body, [member])
    assert await p.log.size() == size


async def test_a_check_cannot_lie(ledger: Ledger) -> None:
    p = ledger.platform
    _, partner, member, grant = await consented(ledger, hearts=100)
    checkpoint = (await p.log.latest_checkpoint()).size
    body = {"partner": partner, "member": member, "consent": grant, "threshold": 101,
            "checkpoint": checkpoint, "result": True}
    size = await p.log.size()
    with pytest.raises(StaleCheck):
        await p.write("consent.check", body, [partner])
    with pytest.raises(ValidationError):
        await p.write("consent.check", {**body, "checkpoint": size + 5, "result": False},
                      [partner])
    assert await p.log.size() == size
    await p.write("consent.check", {**body, "result": False}, [partner])


async def test_checks_are_visible_only_to_the_member(ledger: Ledger) -> None:
    p = ledger.platform
    _, partner, member, _ = await consented(ledger)
    done = await services.check_hearts(p, partner=partner, member=member, threshold=10)
    from heartchain.accounts.models import Account

    me = await Account.get(address=member)
    checks = await services.checks_on(member, viewer=me)
    assert [c.idx for c in checks] == [done.index]
    for viewer in (await Account.get(address=partner), await Account.get(address=ledger.operator),
                   None):
        with pytest.raises(ChecksArePrivate):
            await services.checks_on(member, viewer=viewer)
    await verify_log(p.log)
