"""Issue 11.6: a partner check must not tell a log reader whose hearts were checked.

The attack: anyone can list `consent.*` entries; the credential a partner holds (or leaks) has
validFrom, asOf.checkpointSize and the threshold, which used to match exactly one public
`consent.check` entry naming the member — undoing the partner-scoped pseudonym."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.conftest import Ledger
from tests.tokens import factories as f
from tokens import services


async def public_entries(ledger: Ledger) -> list[dict[str, Any]]:
    p = ledger.platform
    stored = await p.log.get_entries(range(await p.log.size()))
    return [{"index": s.index, "at": s.at, "kind": s.kind, "data": s.data.decode(),
             **json.loads(s.data)} for s in stored.values()]


async def start_of_an_hour(ledger: Ledger) -> None:
    """Move the log clock to a minute past the next hour, so a test's checks share one hour."""
    now = ledger.platform.clock.now()
    next_hour = now.replace(minute=1, second=0, microsecond=0) + timedelta(hours=1)
    ledger.platform.clock.advance(next_hour - now)


async def two_members_checked(ledger: Ledger) -> tuple[list[str], list[dict[str, Any]]]:
    p = ledger.platform
    charity, partner = await f.charity(ledger), await f.partner(ledger)
    members, credentials = [], []
    for _ in range(2):
        member = await f.member(ledger)
        await services.record_donation(p, charity=charity, donor=member, kind="cash",
                                       quantity=6_000, campaign="c")
        await services.grant_consent(p, member=member, partner=partner,
                                     expires=p.clock.now() + timedelta(days=30))
        members.append(member)
    await start_of_an_hour(ledger)  # checks answer as of the hour's checkpoint: after the gifts
    for member in members:
        checked = await services.check_hearts(p, partner=partner, member=member, threshold=5_000)
        credentials.append(checked.attestation)
    return members, credentials


async def test_no_consent_entry_names_the_member(ledger: Ledger) -> None:
    members, credentials = await two_members_checked(ledger)
    consent_entries = [e for e in await public_entries(ledger) if e["kind"].startswith("consent.")]
    assert {e["kind"] for e in consent_entries} == {"consent.grant", "consent.check"}
    for member in members:
        assert not [e["index"] for e in consent_entries if member in e["data"]]
    for credential in credentials:
        pseudonym = credential["credentialSubject"]["id"]
        assert not [e["index"] for e in consent_entries
                    if pseudonym.rsplit(":", 1)[1] in e["data"]]


async def test_a_credential_matches_no_single_public_entry(ledger: Ledger) -> None:
    _, credentials = await two_members_checked(ledger)
    entries = await public_entries(ledger)
    checks = [e for e in entries if e["kind"] == "consent.check"]
    for credential in credentials:
        subject = credential["credentialSubject"]
        threshold = subject["heartScore"]["threshold"]
        size = subject["asOf"]["checkpointSize"]
        # what the old credential gave away: the check's own time, checkpoint and threshold
        assert not [e for e in checks if e["at"] == credential["validFrom"]]
        assert not [e for e in checks if json.dumps(threshold) in json.dumps(e["body"])
                    and json.dumps(size) in json.dumps(e["body"])]
        assert not [e for e in entries if e["at"] == credential["validFrom"]]

    def shared(credential: dict[str, Any]) -> dict[str, Any]:
        """What a log reader could match a credential on: all but its id, subject and proof."""
        subject = {k: v for k, v in credential["credentialSubject"].items() if k != "id"}
        return {**{k: v for k, v in credential.items() if k not in ("id", "proof")},
                "credentialSubject": subject}

    # two members checked in the same hour get credentials a log reader cannot tell apart
    assert shared(credentials[0]) == shared(credentials[1])
    assert credentials[0]["credentialSubject"]["heartScore"]["meetsThreshold"]
