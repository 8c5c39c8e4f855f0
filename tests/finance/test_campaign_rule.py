"""One campaign rule: the import's dry run refuses exactly the rows the log refuses at append
time, with the same reason (tracing.campaigns.refusal), for an unknown campaign, a closed one,
one not yet started and another charity's."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from heartchain.errors import HeartchainError
from heartchain.finance import importer
from heartchain.keys import Address
from heartchain.ledger.entries import format_time
from tests.conftest import Ledger
from tests.factories import campaign
from tests.tokens import factories as f
from tokens.entries import RecordBody
from tracing.errors import CampaignClosed, ForeignCampaign, UnknownCampaign

EXPECTED = {"no-such-2026": UnknownCampaign, "ended-2026": CampaignClosed,
            "later-2027": CampaignClosed, "theirs-2026": ForeignCampaign}


def _export(slugs: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", "payer", "amount", "transaction_id", "campaign"])
    for n, slug in enumerate(slugs):
        writer.writerow(["2026-11-20 10:00:00", f"1390000{n:04d}", "12.30", f"T-rule-{n}", slug])
    return out.getvalue().encode()


async def test_the_dry_run_and_the_append_refuse_the_same_rows_alike(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    platform = ledger.platform
    moment = platform.clock.now()
    monkeypatch.setattr(platform.clock, "now", lambda: moment)  # one time for both checks
    charity = await f.charity(ledger, campaigns=("open-2026",))
    await campaign(ledger, charity, "ended-2026", starts="2020-01-01T00:00:00.000Z",
                   ends=format_time(moment - timedelta(days=1)))
    await campaign(ledger, charity, "later-2027", starts=format_time(moment + timedelta(days=30)))
    other = await f.charity(ledger, "Another Charity", campaigns=("theirs-2026",))
    donor = await f.member(ledger)
    slugs = ["open-2026", *EXPECTED, "open-2026"]
    size = await platform.log.size()

    report = await importer.dry_run(platform, charity, _export(slugs))
    assert await platform.log.size() == size
    reasons = {slugs[p.row - 2]: p.reason for p in report.problems}
    assert [p.row for p in report.problems] == [3, 4, 5, 6]  # header is row 1
    assert set(reasons) == set(EXPECTED) and report.to_import == 2
    assert other in reasons["theirs-2026"]

    for slug, error in EXPECTED.items():
        with pytest.raises(HeartchainError) as refused:
            await platform.write(RecordBody(charity=Address(charity), donor=Address(donor),
                                            kind="cash", quantity=1230, campaign=slug))
        assert type(refused.value) is error
        assert str(refused.value) == reasons[slug]  # word for word
    assert await platform.log.size() == size

    imported = await importer.import_file(platform, charity, _export(slugs))
    assert imported.imported == 2
    assert {slugs[p.row - 2]: p.reason for p in imported.problems} == reasons
