"""Declared bodies: what `decode` refuses and how it names the field, and the wire form."""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest

from heartchain.errors import ValidationError
from heartchain.keys import address_of, new_signing_key
from heartchain.ledger.body import (
    MAX_QUANTITY,
    Address,
    Body,
    Index,
    Quantity,
    Slug,
    Text,
    body_class,
    decode,
    wire,
)
from tests.conftest import Ledger

GOOD = address_of(new_signing_key())
# The same address with its last character changed: the pattern passes, the checksum does not.
TYPO = GOOD[:-1] + ("q" if GOOD[-1] != "q" else "p")


class Share(Body):
    part: Index
    to: Address


class Sample(Body):
    KIND = "test.sample"
    SIGNERS = ("by",)
    by: Address
    quantity: Quantity
    colour: Literal["red", "green"]
    campaign: Slug
    shares: tuple[Share, ...] = ()
    origin: Address | None = msgspec.field(default=None, name="from")
    note: Text | None = None

    def __post_init__(self) -> None:
        if self.note is not None and self.colour == "green":
            raise ValidationError("test.sample: green samples carry no note", field="note")


def raw(**changes: object) -> dict[str, object]:
    return {"by": GOOD, "quantity": 5, "colour": "red", "campaign": "spring-2026", **changes}


def refusal(body: dict[str, object]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        decode(Sample, body)
    return caught.value


def test_a_good_body_decodes_and_names_its_kind_and_signers() -> None:
    body = decode(Sample, raw(shares=[{"part": 0, "to": GOOD}], **{"from": GOOD}))
    assert body.signers() == [GOOD] and body.origin == GOOD
    assert body_class("test.sample") is Sample
    assert body.shares == (Share(part=0, to=GOOD),)


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"quantity": 0}, "quantity", f"0 is outside 1..{MAX_QUANTITY}"),
    ({"quantity": MAX_QUANTITY + 1}, "quantity", "is outside"),
    ({"quantity": True}, "quantity", "must be an integer, got bool"),
    ({"quantity": 5.0}, "quantity", "must be an integer, got float"),
    ({"quantity": "5"}, "quantity", "must be an integer, got str"),
    ({"colour": "blue"}, "colour", "'blue' is not one of red, green"),
    ({"campaign": "Spring"}, "campaign", "is not of the form"),
    ({"campaign": "spring\n"}, "campaign", "is not of the form"),
    ({"by": "hc1short"}, "by", "is not of the form"),
    ({"by": TYPO}, "by", "checksum"),
    ({"from": TYPO}, "from", "checksum"),
    ({"note": ""}, "note", "length must be 1..200"),
    ({"extra": 1}, "extra", "unknown field(s) extra"),
    ({"colour": "green", "note": "hi"}, "note", "green samples carry no note"),
])
def test_refusals_name_the_field(change: dict[str, object], field: str, words: str) -> None:
    error = refusal(raw(**change))
    assert error.field == field
    assert words in str(error) and str(error).startswith("test.sample: ")


def test_a_missing_field_is_required() -> None:
    body = raw()
    del body["campaign"]
    error = refusal(body)
    assert (error.field, str(error)) == ("campaign", "test.sample: campaign: is required")


def test_nested_refusals_give_their_path() -> None:
    error = refusal(raw(shares=[{"part": 0, "to": GOOD}, {"part": -1, "to": GOOD}]))
    assert error.field == "shares" and "shares[1].part" in str(error)
    error = refusal(raw(shares=[{"part": 0}]))
    assert error.field == "shares" and "shares[0].to: is required" in str(error)


class Crowd(Body):
    members: list[Address]
    shares: tuple[Share, ...] = ()
    lead: Share | None = None


def test_addresses_in_lists_and_nested_bodies_have_their_checksum_checked() -> None:
    decode(Crowd, {"members": [GOOD, GOOD], "shares": [{"part": 0, "to": GOOD}],
                   "lead": {"part": 1, "to": GOOD}})
    for body, field, where in (
            ({"members": [GOOD, TYPO]}, "members", "members"),
            ({"members": [], "shares": [{"part": 0, "to": GOOD}, {"part": 1, "to": TYPO}]},
             "shares", "shares[1].to"),
            ({"members": [], "lead": {"part": 1, "to": TYPO}}, "lead", "lead.to")):
        with pytest.raises(ValidationError, match="checksum") as caught:
            decode(Crowd, body)
        assert caught.value.field == field and f"Crowd: {where}: " in str(caught.value)


def test_not_an_object() -> None:
    assert refusal(["x"]).field == "body"  # type: ignore[arg-type]


def test_wire_uses_wire_names_leaves_out_none_and_reads_back_equal() -> None:
    body = Sample(by=GOOD, quantity=5, colour="red", campaign="c",
                  shares=(Share(part=1, to=GOOD),), origin=GOOD)
    carried = wire(body)
    assert carried == {"by": GOOD, "quantity": 5, "colour": "red", "campaign": "c",
                       "shares": [{"part": 1, "to": GOOD}], "from": GOOD}
    assert decode(Sample, carried) == body
    assert "note" not in wire(body) and "origin" not in carried


async def test_a_declared_kind_no_domain_applies_is_refused_on_the_write_path(
        ledger: Ledger) -> None:
    key = new_signing_key()
    size = await ledger.platform.log.size()
    body = Sample(by=address_of(key), quantity=1, colour="red", campaign="c")
    with pytest.raises(ValidationError, match=r"no loaded domain applies 'test\.sample'"):
        await ledger.platform.write(body, key)
    with pytest.raises(ValidationError, match="no loaded domain applies"):
        await ledger.platform.log.append(ledger.platform.signed(body, key))
    assert await ledger.platform.log.size() == size
