"""Our eddsa-jcs-2022 signer and verifier against the W3C vc-di-eddsa specification's vectors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from nacl.signing import SigningKey

from tokens.attest import (
    _b58decode,
    _hash_data,
    did_key,
    public_key_from_text,
    sign_credential,
    verify_data_integrity,
)
from tokens.errors import AttestationInvalid

VECTORS = Path(__file__).parents[1] / "vectors" / "vc-di-eddsa"
JCS = VECTORS / "eddsa-jcs-2022"
_ED25519_PRIVATE_MULTICODEC = b"\x80\x26"


def text(name: str) -> str:
    return (JCS / name).read_text().strip()


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def key_pair() -> tuple[SigningKey, bytes]:
    pair = load(VECTORS / "keyPair.json")
    private = _b58decode(pair["privateKeyMultibase"][1:])
    assert private[:2] == _ED25519_PRIVATE_MULTICODEC
    key = SigningKey(private[2:])
    public = public_key_from_text(pair["publicKeyMultibase"])
    assert bytes(key.verify_key) == public
    return key, public


def test_canonical_forms_and_hashes_match_byte_for_byte() -> None:
    unsigned = load(VECTORS / "unsigned.json")
    config = load(JCS / "proofConfigJCS.json")
    assert rfc8785.dumps(unsigned).decode() == text("canonDocJCS.txt")
    assert rfc8785.dumps(config).decode() == text("proofCanonJCS.txt")
    combined = _hash_data(unsigned, config)
    assert combined.hex() == text("combinedHashJCS.txt")
    assert combined[:32].hex() == text("proofHashJCS.txt")
    assert combined[32:].hex() == text("docHashJCS.txt")


def test_signing_reproduces_the_signature_and_signed_credential() -> None:
    key, public = key_pair()
    unsigned = load(VECTORS / "unsigned.json")
    config = load(JCS / "proofConfigJCS.json")
    assert config["verificationMethod"] == f"{did_key(public)}#{did_key(public)[8:]}"
    signed = sign_credential(unsigned, key, config["created"])
    expected = load(JCS / "signedJCS.json")
    assert signed == expected
    assert signed["proof"]["proofValue"] == text("sigBTC58JCS.txt")
    assert _b58decode(signed["proof"]["proofValue"][1:]).hex() == text("sigHexJCS.txt")
    # The proof keeps the document's @context (§3.3.1 step 2), as the vector's proof does.
    assert signed["proof"]["@context"] == unsigned["@context"]


def test_the_vector_credential_verifies() -> None:
    _, public = key_pair()
    signed = load(JCS / "signedJCS.json")
    assert verify_data_integrity(signed, public) == load(VECTORS / "unsigned.json")
    assert public_key_from_text(did_key(public)) == public
    assert public_key_from_text(signed["proof"]["verificationMethod"]) == public


def test_any_one_character_edit_of_the_vector_credential_fails() -> None:
    _, public = key_pair()
    canonical = rfc8785.dumps(load(JCS / "signedJCS.json")).decode()
    edits = 0
    for position, char in enumerate(canonical):
        if char in '{}[]":,':
            continue  # structure, not content: most edits there are not JSON at all
        for replacement in ("x", "0") if char not in "x0" else ("y", "1"):
            edited = canonical[:position] + replacement + canonical[position + 1:]
            document = json.loads(edited)
            if document == load(JCS / "signedJCS.json"):
                continue
            edits += 1
            with pytest.raises(AttestationInvalid):
                verify_data_integrity(document, public)
    assert edits > 1500


def test_proof_context_must_prefix_the_document_context() -> None:
    _, public = key_pair()
    signed = load(JCS / "signedJCS.json")
    swapped = copy.deepcopy(signed)
    swapped["@context"] = list(reversed(swapped["@context"]))
    with pytest.raises(AttestationInvalid, match="@context"):
        verify_data_integrity(swapped, public)
