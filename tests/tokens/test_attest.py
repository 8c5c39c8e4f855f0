from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from tests.conftest import Ledger
from tokens.attest import (
    _b58decode,
    _b58encode,
    _hash_data,
    build_credential,
    did_key,
    main,
    public_key_b64,
    verify_attestation,
    verify_data_integrity,
)
from tokens.errors import AttestationInvalid

KEY = SigningKey(bytes(range(32)))
NOW = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)


def credential(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        key=KEY, credential_id="urn:uuid:9f1c2b3a-0000-4000-8000-000000000001",
        valid_from="2026-11-21T08:00:00.000Z", valid_until="2026-11-22T08:00:00.000Z",
        pseudonym="urn:heartchain:pseudonym:00112233445566778899aabbccddeeff", threshold=5000,
        result=True, origin="heartchain.localhost/log", checkpoint_size=812,
        root_hash=b"\x01" * 32)
    fields.update(overrides)
    return build_credential(**fields)


def test_valid_credential_verifies_offline() -> None:
    document = credential()
    verify_attestation(document, public_key_b64(KEY), NOW)
    assert document["issuer"].startswith("did:key:z6Mk")  # the Ed25519 did:key prefix
    assert document["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert json.loads(json.dumps(document)) == document


def test_base58_round_trip() -> None:
    for data in (b"", b"\0\0\x01", bytes(range(40)), b"\xff" * 64):
        assert _b58decode(_b58encode(data)) == data
    assert did_key(bytes(32)) == "did:key:z6MkeTG3bFFSLYVU7VqhgZxqr6YzpaGrQtFMh1uvqGy1vDnP"


ALTERATIONS: list[tuple[str, Any]] = [
    ("id", "urn:uuid:9f1c2b3a-0000-4000-8000-000000000002"),
    ("validFrom", "2026-11-20T08:00:00.000Z"),
    ("validUntil", "2027-11-22T08:00:00.000Z"),
    ("type", ["VerifiableCredential", "SomethingElse"]),
    ("credentialSubject.id", "urn:heartchain:pseudonym:ffffffffffffffffffffffffffffffff"),
    ("credentialSubject.heartScore.threshold", 50_000),
    ("credentialSubject.heartScore.claim", "hearts ≥ 50000"),
    ("credentialSubject.heartScore.meetsThreshold", False),
    ("credentialSubject.asOf.checkpointSize", 813),
    ("credentialSubject.asOf.rootHash", "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="),
    ("credentialSubject.extra", "x"),
    ("proof.created", "2026-11-21T09:00:00.000Z"),
    ("proof.proofValue", "z" + _b58encode(b"\x00" * 64)),
    ("proof.proofPurpose", "authentication"),
    ("proof.cryptosuite", "eddsa-rdfc-2022"),
    ("issuer", did_key(bytes(SigningKey(b"\x02" * 32).verify_key))),
    ("@context", ["https://www.w3.org/2018/credentials/v1"]),
]


@pytest.mark.parametrize(("path", "value"), ALTERATIONS, ids=[a[0] for a in ALTERATIONS])
def test_each_altered_field_fails(path: str, value: Any) -> None:
    document = copy.deepcopy(credential())
    *parents, last = path.split(".")
    target = document
    for name in parents:
        target = target[name]
    target[last] = value
    with pytest.raises(AttestationInvalid):
        verify_attestation(document, public_key_b64(KEY), NOW)


def test_removed_proof_fails() -> None:
    document = credential()
    del document["proof"]
    with pytest.raises(AttestationInvalid, match="proof"):
        verify_attestation(document, public_key_b64(KEY), NOW)


def test_wrong_key_fails() -> None:
    other = SigningKey(b"\x03" * 32)
    with pytest.raises(AttestationInvalid, match="issuer"):
        verify_attestation(credential(), public_key_b64(other), NOW)
    forged = credential(key=other)
    with pytest.raises(AttestationInvalid):
        verify_attestation(forged, public_key_b64(KEY), NOW)
    with pytest.raises(AttestationInvalid, match="key"):
        verify_attestation(credential(), "not base64!", NOW)


def test_expired_or_not_yet_valid_fails() -> None:
    document = credential()
    with pytest.raises(AttestationInvalid, match="expired"):
        verify_attestation(document, public_key_b64(KEY), NOW + timedelta(days=1))
    with pytest.raises(AttestationInvalid, match="validFrom"):
        verify_attestation(document, public_key_b64(KEY), NOW - timedelta(hours=1))


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "credential.json"
    path.write_text(json.dumps(credential()))
    key = public_key_b64(KEY)
    assert main(["verify", str(path), "--key", key, "--at", "2026-11-21T09:00:00Z"]) == 0
    assert "valid: hearts ≥ 5000" in capsys.readouterr().out
    assert main(["verify", str(path), "--key", key, "--at", "2026-11-23T09:00:00Z"]) == 1
    assert "INVALID: validUntil" in capsys.readouterr().out
    (tmp_path / "key.txt").write_text(public_key_b64(SigningKey(b"\x04" * 32)) + "\n")
    assert main(["verify", str(path), "--key-file", str(tmp_path / "key.txt"),
                 "--at", "2026-11-21T09:00:00Z"]) == 1
    assert main(["verify", str(tmp_path / "missing.json"), "--key", key]) == 2
    path.write_text("{not json")
    assert main(["verify", str(path), "--key", key]) == 2


def test_proof_keeps_the_context_a_conformant_verifier_hashes() -> None:
    document = credential()
    assert document["proof"]["@context"] == document["@context"]
    # What the service used to issue: @context hashed but dropped from the proof. A verifier
    # following §3.3.2 hashes the proof as it stands, so that signature cannot verify.
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    options = {k: v for k, v in document["proof"].items() if k not in ("proofValue", "@context")}
    old_signature = KEY.sign(_hash_data(unsecured, {**options, "@context": unsecured["@context"]}))
    old = {**unsecured, "proof": {**options,
                                  "proofValue": "z" + _b58encode(old_signature.signature)}}
    with pytest.raises(AttestationInvalid, match="signature"):
        verify_data_integrity(old, bytes(KEY.verify_key))


def test_key_as_did_key_or_multibase(tmp_path: Path) -> None:
    document = credential()
    issuer = document["issuer"]
    for key in (issuer, issuer[len("did:key:"):], document["proof"]["verificationMethod"],
                public_key_b64(KEY)):
        verify_attestation(document, key, NOW)
    with pytest.raises(AttestationInvalid, match="key"):
        verify_attestation(document, "z6Mk" + "1" * 20, NOW)


def test_cli_needs_a_key_and_takes_did_key(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "credential.json"
    document = credential()
    path.write_text(json.dumps(document))
    with pytest.raises(SystemExit) as exited:
        main(["verify", str(path)])  # never silently trusts the local data directory's key
    assert exited.value.code == 2
    assert main(["verify", str(path), "--key", document["issuer"],
                 "--at", "2026-11-21T09:00:00Z"]) == 0
    assert "valid: hearts ≥ 5000" in capsys.readouterr().out


async def test_the_running_platform_signs_with_the_key_tools_derive(ledger: Ledger) -> None:
    from tokens.attest import attestation_key, attestation_key_from_settings

    running = attestation_key(ledger.platform)
    assert running.verify_key == attestation_key_from_settings(ledger.settings).verify_key
