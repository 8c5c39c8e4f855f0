"""QR labels, the EPCIS export (validated against GS1's EPCIS 2.0 JSON schema) and the CSV ledger,
served by tracing.http.routes in a small app of their own."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import jsonschema
import pytest
from starlette.applications import Starlette

from tests.conftest import VECTORS, Ledger
from tests.tracing import factories as f
from tests.tracing.conftest import Cast, needs_donations
from tracing import http, labels, services

SCHEMA = json.loads((VECTORS / "epcis" / "EPCIS-JSON-Schema.json").read_text())
# jsonschema checks `uri` and `date-time` formats only with optional packages; check them here.
URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")


@pytest.fixture
async def web(ledger: Ledger) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=http.routes)
    app.state.platform = ledger.platform
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        yield client


def epcis_errors(document: dict[str, object]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    found = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]
    for event in document["epcisBody"]["eventList"]:  # type: ignore[index]
        datetime.fromisoformat(event["eventTime"])
        datetime.fromisoformat(event["recordTime"])
        uris = [event["eventID"]]
        for name in ("quantityList", "inputQuantityList", "outputQuantityList"):
            uris += [q["epcClass"] for q in event.get(name, [])]
        uris += [s["source"] for s in event.get("sourceList", [])]
        uris += [d["destination"] for d in event.get("destinationList", [])]
        found += [f"not a URI: {u}" for u in uris if not URI.match(u)]
    return found


def test_schema_rejects_a_broken_document() -> None:
    example = json.loads((VECTORS / "epcis" / "Example_9.6.1-ObjectEvent.jsonld").read_text())
    assert not list(jsonschema.Draft7Validator(SCHEMA).iter_errors(example))
    example["epcisBody"]["eventList"][0]["action"] = "TELEPORT"
    assert list(jsonschema.Draft7Validator(SCHEMA).iter_errors(example))


async def test_labels_carry_the_trace_url_and_are_cached(ledger: Ledger, cast: Cast,
                                                         web: httpx.AsyncClient) -> None:
    lot = await f.purchased_lot(ledger, cast.charity)
    svg = await web.get(f"/lots/{lot.id}/label.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.content.startswith(b"<svg") and "immutable" in svg.headers["cache-control"]
    png = await web.get(f"/lots/{lot.id}/label.png")
    assert png.content.startswith(b"\x89PNG")
    url = services.lot_trace_url(ledger.platform, lot)
    assert url == f"{ledger.settings.public_url}/lots/{lot.id}?c={lot.code}"
    assert labels.label_svg(url) is labels.label_svg(url)  # rendered once
    assert (await web.get("/lots/L999999/label.svg")).status_code == 404


@needs_donations
async def test_epcis_export_validates(ledger: Ledger, cast: Cast, web: httpx.AsyncClient) -> None:
    platform = ledger.platform
    rice = await f.donate(ledger, cast.charity, cast.donor, "food", 10_000)
    lot = await services.create_lot(platform, charity=cast.charity, goods="rice", quantity=10_000,
                                    unit="grams", custodian=cast.charity, donation=rice,
                                    place="warehouse")
    await services.hand_over(platform, lot=lot.id, giver=cast.charity, taker=cast.driver,
                             place="warehouse", evidence=f.digest())
    sacks = await services.split_lot(platform, by=cast.driver, lot=lot.id, outputs=[6_000, 3_000],
                                     loss=1_000, reason="wet")
    await services.record_loss(platform, by=cast.driver, lot=sacks[1].id, quantity=100,
                               reason="stolen")
    extra = await f.purchased_lot(ledger, cast.charity, 500, custodian=cast.driver)
    merged = await services.merge_lots(platform, by=cast.driver, lots=[sacks[1].id, extra.id])
    await services.deliver_lot(platform, by=cast.driver, lot=merged.id, quantity=3_400,
                               place="school", commitment=f.digest())
    trees = await f.purchased_lot(ledger, cast.charity, 40, unit="trees", goods="pine saplings")

    for lot_id in (lot.id, sacks[0].id, merged.id, trees.id):
        response = await web.get(f"/lots/{lot_id}/epcis")
        assert response.headers["content-type"] == "application/ld+json"
        document = response.json()
        assert epcis_errors(document) == [], lot_id

    events = (await web.get(f"/lots/{merged.id}/epcis")).json()["epcisBody"]["eventList"]
    types = [(e["type"], e.get("bizStep")) for e in events]
    assert types == [("ObjectEvent", "commissioning"), ("ObjectEvent", "receiving"),
                     ("TransformationEvent", "repackaging"), ("ObjectEvent", "removing"),
                     ("ObjectEvent", "commissioning"), ("TransformationEvent", "repackaging"),
                     ("ObjectEvent", "dispensing")]
    handover = events[1]
    assert handover["sourceList"] == [{"type": "possessing_party",
                                       "source": f"urn:heartchain:account:{cast.charity}"}]
    assert handover["destinationList"][0]["type"] == "possessing_party"
    split = events[2]
    assert split["inputQuantityList"] == [{"epcClass": f"{ledger.settings.public_url}/lots/"
                                                       f"{lot.id}", "quantity": 10_000,
                                           "uom": "GRM"}]
    assert split["hc:loss"] == 1_000
    assert events[-1]["disposition"] == "dispensed"
    stored = await platform.log.get_entry(events[-1]["hc:entryIndex"])
    assert events[-1]["eventID"] == f"ni:///sha-256;{stored.leaf_hash.hex()}?ver=CBV2.0"
    tree_events = (await web.get(f"/lots/{trees.id}/epcis")).json()["epcisBody"]["eventList"]
    assert tree_events[0]["quantityList"][0]["uom"] == "H87"
    assert (await web.get("/lots/L999999/epcis")).status_code == 404


@needs_donations
async def test_campaign_ledger_csv(ledger: Ledger, cast: Cast, web: httpx.AsyncClient) -> None:
    gift = await f.donate(ledger, cast.charity, cast.donor, "cash", 9_000, "books")
    await services.disburse(ledger.platform, charity=cast.charity, campaign="books",
                            amount=2_500, payee="Xinhua Bookstore 新华书店", purpose="textbooks",
                            receipt=f.digest())
    response = await web.get("/campaigns/books/ledger.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["type"], r["amount_fen"], r["balance_fen"]) for r in rows] == [
        ("donation", "9000", "9000"), ("disbursement", "-2500", "6500"),
        ("allocation", "2500", "")]
    assert rows[2]["donation"] == str(gift) and rows[1]["payee"] == "Xinhua Bookstore 新华书店"
    assert (await web.get("/campaigns/nothing/ledger.csv")).status_code == 404
