"""Heart-score attestations: W3C VC 2.0 credentials signed with Data Integrity `eddsa-jcs-2022`.

A partner that checked "does this member hold at least N hearts?" gets a credential it can keep
and verify offline, with nothing but the platform's published Ed25519 key::

    {"@context": ["https://www.w3.org/ns/credentials/v2"],
     "type": ["VerifiableCredential", "HeartScoreCredential"],
     "id": "urn:uuid:…", "issuer": "did:key:z6Mk…",
     "validFrom": "2026-11-21T08:00:00.000Z", "validUntil": "2026-11-22T08:00:00.000Z",
     "credentialSubject": {"id": "urn:heartchain:pseudonym:<partner-scoped>",
                           "heartScore": {"claim": "hearts ≥ 5000", "threshold": 5000,
                                          "meetsThreshold": true},
                           "asOf": {"log": "<origin>", "checkpointSize": 812,
                                    "rootHash": "<base64>"}},
     "proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", …,
               "proofValue": "z…"}}

Signing follows W3C VC Data Integrity EdDSA §3.3 (eddsa-jcs-2022): the proof carries the
document's @context; hash = SHA-256(JCS(proof without proofValue)) || SHA-256(JCS(document
without proof)); Ed25519 over that; proofValue = multibase base58btc. The issuer is the
`did:key` of the attestation key, so the key alone identifies the issuer.

`verify_attestation` below needs only `hashlib`, `rfc8785` and PyNaCl: partners may copy it (with
`_b58decode`, `did_key` and `_parse_time`) and swap `AttestationInvalid` for their own error.
The CLI: `heartchain attest verify FILE --key did:key:z6Mk…` (or base64; exit 0 valid, 1 invalid,
2 unusable input). The test vectors of the specification are checked in tests/tokens/test_attest.py.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nacl.exceptions
import rfc8785
from nacl.signing import SigningKey, VerifyKey

from heartchain.ledger.entries import jcs
from tokens.errors import AttestationInvalid

if TYPE_CHECKING:
    from heartchain.platform import Platform
    from heartchain.settings import Settings

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
CREDENTIAL_TYPE = "HeartScoreCredential"
_KEY_PURPOSE = "attestation-key/ed25519/v1"
_ED25519_MULTICODEC = b"\xed\x01"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

# -- keys ------------------------------------------------------------------------------------


def attestation_key_from_settings(settings: Settings) -> SigningKey:
    """The platform's attestation key, derived from the master key: every worker that shares
    the master key signs with the same key, and no other secret file needs guarding."""
    from heartchain.privacy import derive_key_from_settings

    return _signing_key(derive_key_from_settings(settings, _KEY_PURPOSE))


@functools.lru_cache(maxsize=8)
def _signing_key(seed: bytes) -> SigningKey:
    # Every partner check signs a credential: the key's expansion from its seed was a seventh
    # of the attestation's CPU.
    return SigningKey(seed)


def attestation_key(platform: Platform) -> SigningKey:
    # The platform's vault holds the same master key and caches what it derives.
    return _signing_key(platform.vault.derive_key(_KEY_PURPOSE))


def public_key_b64(key: SigningKey | VerifyKey) -> str:
    verify_key = key.verify_key if isinstance(key, SigningKey) else key
    return base64.b64encode(bytes(verify_key)).decode()


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, digit = divmod(number, 58)
        out = _B58[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        digit = _B58.find(char)
        if digit < 0:
            raise AttestationInvalid(f"base58: invalid character {char!r}")
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


@functools.lru_cache(maxsize=64)  # the issuer of every credential: one key
def did_key(public_key: bytes) -> str:
    """`did:key` of an Ed25519 public key (multicodec 0xed01, multibase base58btc)."""
    return "did:key:z" + _b58encode(_ED25519_MULTICODEC + public_key)


# -- signing ---------------------------------------------------------------------------------


def _hash_data(unsecured: Mapping[str, Any], proof_config: Mapping[str, Any],
               canonical: Callable[[Any], bytes] = rfc8785.dumps) -> bytes:
    """§3.3.4 Hashing: SHA-256(JCS(proof config)) || SHA-256(JCS(document without proof))."""
    return (hashlib.sha256(canonical(proof_config)).digest()
            + hashlib.sha256(canonical(unsecured)).digest())


def sign_credential(document: Mapping[str, Any], key: SigningKey, created: str
                    ) -> dict[str, Any]:
    """The document with an `eddsa-jcs-2022` DataIntegrityProof by `key` added (§3.3.1 Create
    Proof: the proof carries the document's @context, and the hash covers it)."""
    issuer = did_key(bytes(key.verify_key))
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    proof: dict[str, Any] = {
        "type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", "created": created,
        "verificationMethod": f"{issuer}#{issuer[len('did:key:'):]}",
        "proofPurpose": "assertionMethod"}
    if "@context" in unsecured:
        proof["@context"] = unsecured["@context"]
    # JCS by the service's exact faster form (the same bytes as rfc8785's): the package's
    # pure-Python encoder was a tenth of a partner check's CPU.
    signature = key.sign(_hash_data(unsecured, proof, jcs)).signature
    return {**unsecured, "proof": {**proof, "proofValue": "z" + _b58encode(bytes(signature))}}


def build_credential(*, key: SigningKey, credential_id: str, valid_from: str, valid_until: str,
                     pseudonym: str, threshold: int, result: bool, origin: str,
                     checkpoint_size: int, root_hash: bytes) -> dict[str, Any]:
    claim = f"hearts {'≥' if result else '<'} {threshold}"
    document = {
        "@context": [VC_CONTEXT],
        "id": credential_id,
        "type": ["VerifiableCredential", CREDENTIAL_TYPE],
        "issuer": did_key(bytes(key.verify_key)),
        "validFrom": valid_from,
        "validUntil": valid_until,
        "credentialSubject": {
            "id": pseudonym,
            "heartScore": {"claim": claim, "threshold": threshold, "meetsThreshold": result},
            "asOf": {"log": origin, "checkpointSize": checkpoint_size,
                     "rootHash": base64.b64encode(root_hash).decode()},
        },
    }
    return sign_credential(document, key, valid_from)


# -- verifying (copy from here) --------------------------------------------------------------


def _parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise AttestationInvalid(f"{name}: must be a date-time string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise AttestationInvalid(f"{name}: not a date-time: {value!r}") from exc
    if moment.tzinfo is None:
        raise AttestationInvalid(f"{name}: needs a time zone: {value!r}")
    return moment


def public_key_from_text(text: str) -> bytes:
    """An Ed25519 public key given as `did:key:z6Mk…` (optionally with its `#z6Mk…` fragment),
    a bare multibase `z6Mk…`, or base64 of the raw 32 bytes."""
    value = text.strip()
    if value.startswith("did:key:"):
        value = value[len("did:key:"):].split("#", 1)[0]
    if value.startswith("z6Mk"):
        decoded = _b58decode(value[1:])
        if len(decoded) != 34 or not decoded.startswith(_ED25519_MULTICODEC):
            raise AttestationInvalid("key: not an Ed25519 did:key (multicodec 0xed01, 32 bytes)")
        return decoded[2:]
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise AttestationInvalid("key: neither did:key:z6Mk… nor base64 of 32 bytes") from exc
    if len(raw) != 32:
        raise AttestationInvalid(f"key: {len(raw)} bytes, an Ed25519 public key has 32")
    return raw


def _as_list(context: Any) -> list[Any]:
    return context if isinstance(context, list) else [context]


def verify_data_integrity(secured: Mapping[str, Any], public_key: bytes) -> dict[str, Any]:
    """§3.3.2 Verify Proof (eddsa-jcs-2022) of `secured` with the Ed25519 `public_key`; return
    the verified document (without its proof), or raise AttestationInvalid."""
    proof = secured.get("proof")
    if not isinstance(proof, Mapping):
        raise AttestationInvalid("proof: missing")
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != "eddsa-jcs-2022":
        raise AttestationInvalid(f"proof.cryptosuite: expected DataIntegrityProof eddsa-jcs-2022, "
                                 f"got {proof.get('type')!r} {proof.get('cryptosuite')!r}")
    proof_value = proof.get("proofValue")
    if not isinstance(proof_value, str) or not proof_value.startswith("z"):
        raise AttestationInvalid("proof.proofValue: must be multibase base58btc ('z…')")
    _parse_time(proof.get("created", "1970-01-01T00:00:00Z"), "proof.created")
    unsecured = {k: v for k, v in secured.items() if k != "proof"}
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in options:
        proof_context = options["@context"]
        document_context = unsecured.get("@context")
        if (document_context is None
                or _as_list(document_context)[:len(_as_list(proof_context))]
                != _as_list(proof_context)):
            raise AttestationInvalid("proof.@context: the document's @context does not start "
                                     "with it")
        unsecured["@context"] = proof_context
    try:
        VerifyKey(public_key).verify(_hash_data(unsecured, options),
                                     _b58decode(proof_value[1:]))
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError) as exc:
        raise AttestationInvalid("proof: the signature does not verify (altered, or signed by "
                                 "another key)") from exc
    return unsecured


def verify_attestation(document: Mapping[str, Any], public_key: str, now: datetime) -> None:
    """Return None if `document` is a valid heart-score credential signed by the key (did:key or
    base64), valid at `now`; raise AttestationInvalid saying what failed otherwise."""
    if not isinstance(document, Mapping):
        raise AttestationInvalid("credential: must be a JSON object")
    key = public_key_from_text(public_key)
    issuer = did_key(key)
    if document.get("issuer") != issuer:
        raise AttestationInvalid(f"issuer: {document.get('issuer')!r} is not {issuer}")
    proof = document.get("proof")
    if not isinstance(proof, Mapping):
        raise AttestationInvalid("proof: missing")
    expected = {"proofPurpose": "assertionMethod",
                "verificationMethod": f"{issuer}#{issuer[len('did:key:'):]}",
                "@context": document.get("@context")}
    for name, value in expected.items():
        # The proof's @context must be the whole document's: the spec lets a verifier accept
        # unsigned @context entries appended after it, which this credential has no use for.
        if proof.get(name) != value:
            raise AttestationInvalid(f"proof.{name}: expected {value!r}, got {proof.get(name)!r}")
    verified = verify_data_integrity(document, key)
    context = verified.get("@context")
    if not isinstance(context, list) or not context or context[0] != VC_CONTEXT:
        raise AttestationInvalid(f"@context: must start with {VC_CONTEXT}")
    types = verified.get("type")
    if not isinstance(types, list) or "VerifiableCredential" not in types:
        raise AttestationInvalid("type: not a VerifiableCredential")
    valid_from = _parse_time(verified.get("validFrom"), "validFrom")
    valid_until = _parse_time(verified.get("validUntil"), "validUntil")
    if now < valid_from:
        raise AttestationInvalid(f"validFrom: not valid before {verified['validFrom']}")
    if now >= valid_until:
        raise AttestationInvalid(f"validUntil: expired at {verified['validUntil']}")


# -- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`heartchain attest verify FILE (--key KEY | --key-file PATH) [--at TIME]`; `attest key`."""
    parser = argparse.ArgumentParser(prog="heartchain attest",
                                     description="verify a heart-score attestation offline")
    sub = parser.add_subparsers(dest="action", required=True)
    verify = sub.add_parser("verify", help="check signature, issuer and validity period")
    verify.add_argument("file", help="the credential (JSON); - for standard input")
    keys = verify.add_mutually_exclusive_group(required=True)
    keys.add_argument("--key", help="the issuer's public key you trust: did:key:z6Mk… or base64 "
                                    "(GraphQL attestationKey, or `heartchain attest key`)")
    keys.add_argument("--key-file", help="a file holding that key")
    verify.add_argument("--at", help="verify as of this time (ISO 8601) instead of now")
    sub.add_parser("key", help="print this data directory's attestation public key "
                               "(did:key and base64)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        if args.action == "key":
            from heartchain.settings import Settings

            local = attestation_key_from_settings(Settings.from_env())
            print(did_key(bytes(local.verify_key)))
            print(public_key_b64(local))
            return 0
        key = args.key if args.key is not None else Path(args.key_file).read_text().strip()
        public_key_from_text(key)
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
        document = json.loads(text)
        now = _parse_time(args.at, "--at") if args.at else datetime.now(UTC)
    except (OSError, ValueError, AttestationInvalid) as exc:
        print(f"heartchain attest: {exc}", file=sys.stderr)
        return 2
    try:
        verify_attestation(document, key, now)
    except AttestationInvalid as exc:
        print(f"INVALID: {exc}")
        return 1
    subject = document["credentialSubject"]
    score = subject.get("heartScore", {})
    as_of = subject.get("asOf", {})
    print(f"valid: {score.get('claim')} for {subject.get('id')} at checkpoint "
          f"{as_of.get('checkpointSize')} of {as_of.get('log')}; valid until "
          f"{document['validUntil']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
