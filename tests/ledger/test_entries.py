from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from heartchain.errors import PermissionDenied, ValidationError
from heartchain.keys import address_of, new_signing_key
from heartchain.ledger.entries import (
    MAX_ENTRY_BYTES,
    EntryFormatError,
    canonical_json,
    check_clock,
    format_time,
    jcs,
    new_entry,
    parse_entry,
    parse_time,
    verify_signatures,
)

AT = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def signed(**body: object):  # type: ignore[no-untyped-def]
    key = new_signing_key()
    return new_entry("account.register", body or {"x": 1}, at=AT).signed_by(key), key


def test_round_trip_is_canonical_and_signed() -> None:
    entry, key = signed(address="a", role="member")
    data = entry.leaf_data
    assert data == rfc8785.dumps(json.loads(data))
    parsed = parse_entry(data)
    assert parsed == entry
    verify_signatures(parsed, [address_of(key)])
    assert parsed.signing_bytes.startswith(b"heartchain/entry/v1\n")
    assert b'"sigs"' not in parsed.signing_bytes


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@given(json_values)
def test_fast_canonical_form_equals_rfc8785(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20))
def test_jcs_is_rfc8785_whatever_the_value(value: object) -> None:
    """jcs takes the fast form only where it is exact: floats and integers beyond 2**53 go to
    the rfc8785 package, which encodes or refuses them as before."""
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(rfc8785.CanonicalizationError):
            jcs(value)
        return
    assert jcs(value) == expected


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.replace(b'{"at"', b'{ "at"'), "canonical"),
    (lambda d: d.replace(b'"v":1', b'"v":1.0'), "floats are not allowed"),
    (lambda d: d.replace(b'"v":1', b'"v":2'), "unsupported version"),
    (lambda d: d.replace(b'"v":1', b'"v":1,"v":1'), "duplicate key"),
    (lambda d: d.replace(b'"v":1', b'"v":1,"w":1'), "envelope keys"),
    (lambda d: d.replace(b'"kind":"account.register"', b'"kind":"Account"'), "malformed kind"),
    (lambda d: d.replace(b'.000Z', b'Z'), "at: expected"),
    (lambda d: d[:-1], "malformed JSON"),
    (lambda d: b"\xff" + d, "malformed JSON"),
    (lambda d: d.replace(b'"x":1', b'"x":NaN'), "not allowed"),
    (lambda d: d.replace(b'"x":1', b'"x":9007199254740992'), "outside"),
    (lambda d: d.replace(b'"x":1', b'"x":"\\ud800"'), "not valid Unicode"),
])
def test_malformed_entries_are_refused(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    entry, _ = signed()
    with pytest.raises(EntryFormatError, match=message):
        parse_entry(mutate(entry.leaf_data))


def test_floats_are_refused_when_building() -> None:
    with pytest.raises(EntryFormatError, match="floats"):
        new_entry("donation.record", {"quantity": 1.5}, at=AT)


def test_size_limit() -> None:
    key = new_signing_key()
    with pytest.raises(EntryFormatError, match="65535-byte limit"):
        new_entry("account.register", {"pad": "x" * MAX_ENTRY_BYTES}, at=AT).signed_by(key)
    with pytest.raises(EntryFormatError, match="limit"):
        parse_entry(b" " * (MAX_ENTRY_BYTES + 1))


def test_room_for_a_signature_is_checked_as_signing_would() -> None:
    giver, taker = new_signing_key(), new_signing_key()
    unsigned = new_entry("account.register", {"pad": ""}, at=AT)
    # Padded so that the giver's signature fits and the taker's would not, by one byte.
    room = MAX_ENTRY_BYTES - len(unsigned.signed_by(giver, taker).leaf_data)
    near = new_entry("account.register", {"pad": "x" * (room + 1)}, at=AT).signed_by(giver)
    with pytest.raises(EntryFormatError, match="65536 bytes"):
        near.signed_by(taker)
    with pytest.raises(EntryFormatError, match="65536 bytes"):
        near.require_room_for(address_of(taker))
    fits = new_entry("account.register", {"pad": "x" * room}, at=AT).signed_by(giver)
    fits.require_room_for(address_of(taker))
    assert len(fits.signed_by(taker).leaf_data) == MAX_ENTRY_BYTES


def test_missing_extra_and_wrong_signatures() -> None:
    entry, key = signed()
    other = new_signing_key()
    with pytest.raises(PermissionDenied, match="missing signature"):
        verify_signatures(entry, [address_of(key), address_of(other)])
    with pytest.raises(PermissionDenied, match="unexpected signature"):
        verify_signatures(entry.signed_by(other), [address_of(key)])
    with pytest.raises(ValidationError, match="order"):
        verify_signatures(entry.signed_by(other), [address_of(other), address_of(key)])
    forged = entry.leaf_data.replace(address_of(key).encode(), address_of(other).encode())
    with pytest.raises(PermissionDenied, match="does not verify"):
        verify_signatures(parse_entry(forged), [address_of(other)])


def test_tampered_body_breaks_the_signature() -> None:
    key = new_signing_key()
    entry = new_entry("account.register", {"n": 5}, at=AT).signed_by(key)
    tampered = parse_entry(entry.leaf_data.replace(b'"n":5', b'"n":6'))
    with pytest.raises(PermissionDenied, match="does not verify"):
        verify_signatures(tampered, [address_of(key)])


def test_clock_skew() -> None:
    entry, _ = signed()
    check_clock(entry, AT + timedelta(minutes=4, seconds=59))
    with pytest.raises(ValidationError, match="from the log clock"):
        check_clock(entry, AT + timedelta(minutes=5, seconds=1))
    with pytest.raises(ValidationError, match="from the log clock"):
        check_clock(entry, AT - timedelta(minutes=6))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53 - 1), 2**53 - 1)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=6), inner,
                      max_size=4),
    max_leaves=12)


@settings(max_examples=80, deadline=None)
@given(body=st.dictionaries(st.text(max_size=8), _JSON, max_size=5),
       signers=st.integers(1, 3))
def test_signed_leaf_data_is_the_canonical_encoding(body: dict[str, object],
                                                   signers: int) -> None:
    """signed_by builds the leaf from the signed bytes without encoding the body again; it must
    be exactly the RFC 8785 form (astral characters take the general encoder's path)."""
    keys = [new_signing_key() for _ in range(signers)]
    entry = new_entry("account.register", body, at=AT).signed_by(*keys)
    assert entry.leaf_data == canonical_json(entry.to_json())
    assert parse_entry(entry.leaf_data) == entry


@settings(max_examples=300)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)),
                                               timezone(timedelta(hours=-5, minutes=-30))])))
def test_times_are_utc_milliseconds_in_the_one_accepted_form(moment: datetime) -> None:
    text = format_time(moment)
    utc = moment.astimezone(UTC)
    assert text == utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert parse_time(text) == utc.replace(microsecond=utc.microsecond // 1000 * 1000)
