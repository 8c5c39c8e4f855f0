"""The console's reads and files: a charity's donations searched and paged, the address book,
receipt files kept off the log (0600) and served back only to their charity."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import httpx

from heartchain.accounts.services import issue_token
from tests.conftest import Ledger, gql
from tests.tracing.factories import account, donate, reverse

SEARCH = """query($campaign: String, $since: String, $until: String, $donor: String,
  $index: Int64, $first: Int!, $after: String) {
  recordedDonations(campaign: $campaign, since: $since, until: $until, donor: $donor,
                    index: $index, first: $first, after: $after) {
    edges { node { index donor campaign quantity reversedIndex } }
    pageInfo { hasNextPage endCursor } } }"""


async def test_a_charity_searches_and_pages_its_own_donations(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    charity = await account(ledger, "charity")
    other = await account(ledger, "charity")
    alice, bob = await account(ledger), await account(ledger)
    winter = [await donate(ledger, charity, alice, "cash", 100 + n) for n in range(3)]
    trees = await donate(ledger, charity, bob, "cash", 500, campaign="trees")
    await donate(ledger, other, alice, "cash", 900)
    refund = await reverse(ledger, charity, winter[0])
    token = await issue_token(ledger.platform, charity)

    async def search(**variables: object) -> dict[str, object]:
        document = await gql(client, SEARCH, {"first": 20, **variables}, token=token)
        assert "errors" not in document, document
        found: dict[str, object] = document["data"]["recordedDonations"]
        return found

    def indexes(page: dict[str, object]) -> list[int]:
        return [e["node"]["index"] for e in page["edges"]]  # type: ignore[attr-defined]

    assert indexes(await search()) == [trees, *reversed(winter)]  # newest first, mine only
    assert indexes(await search(campaign="trees")) == [trees]
    assert indexes(await search(donor=bob)) == [trees]
    assert indexes(await search(index=winter[1])) == [winter[1]]
    today = ledger.platform.clock.now().date().isoformat()
    assert len(indexes(await search(since=today, until=today))) == 4
    assert indexes(await search(until="2000-01-01")) == []
    first = await search(first=2)
    assert first["pageInfo"]["hasNextPage"]  # type: ignore[index]
    rest = await search(first=2, after=first["pageInfo"]["endCursor"])  # type: ignore[index]
    assert indexes(first) + indexes(rest) == [trees, *reversed(winter)]
    refunded = (await search(index=winter[0]))["edges"][0]["node"]  # type: ignore[index]
    assert refunded["reversedIndex"] == refund
    bad = await gql(client, SEARCH, {"first": 5, "since": "yesterday"}, token=token)
    assert "since" in bad["errors"][0]["message"]
    member = await gql(client, SEARCH, {"first": 5},
                       token=await issue_token(ledger.platform, alice))
    assert "charity" in member["errors"][0]["message"]


async def test_the_address_book_lists_organisations_by_name_never_members(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    await account(ledger, "charity", label="Sunrise Foundation")
    depot = await account(ledger, "partner", label="Green Ridge depot")
    member = await account(ledger)
    document = await gql(client, "{ organisations { address role label } }")
    labels = [o["label"] for o in document["data"]["organisations"]]
    assert "Sunrise Foundation" in labels and "Green Ridge depot" in labels
    assert member not in str(document)
    partners = await gql(client, '{ organisations(role: "partner") { address } }')
    assert partners["data"]["organisations"] == [{"address": depot}]


async def test_receipt_files_stay_off_the_log_and_go_back_only_to_their_charity(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    charity = await account(ledger, "charity")
    token = await issue_token(ledger.platform, charity)
    other = await issue_token(ledger.platform, await account(ledger, "charity"))
    data = b"%PDF-1.4 invoice 1234 rice 500 kg"
    digest = hashlib.sha256(data).hexdigest()
    size = await ledger.platform.log.size()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/pdf",
               "X-Content-SHA256": digest}
    answer = await client.post("/console/receipts?name=../../invoice.pdf", content=data,
                               headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"sha256": digest, "size": len(data), "filename": "invoice.pdf"}
    assert await ledger.platform.log.size() == size  # nothing on the log until disbursed
    kept = Path(ledger.settings.data_dir) / "receipts" / digest
    assert kept.read_bytes() == data
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    back = await client.get(f"/console/receipts/{digest}",
                            headers={"Authorization": f"Bearer {token}"})
    assert (back.status_code, back.content) == (200, data)
    assert back.headers["content-type"] == "application/pdf"
    assert (await client.get(f"/console/receipts/{digest}",
                             headers={"Authorization": f"Bearer {other}"})).status_code == 404
    assert (await client.get(f"/console/receipts/{digest}")).status_code == 401
    wrong = await client.post("/console/receipts", content=data + b"x", headers=headers)
    assert wrong.status_code == 400 and "SHA-256" in wrong.json()["error"]
    big = await client.post("/console/receipts", content=b"x" * (300 * 1024),
                            headers={"Authorization": f"Bearer {token}"})
    assert big.status_code == 200  # receipts may be larger than a GraphQL request
