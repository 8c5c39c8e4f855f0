"""`heartchain receipt verify | update`: check a donor's receipt offline, or bring it up to date.

    heartchain receipt verify FILE --log-key K [--witness-key W]... [--witnesses N]
    heartchain receipt update FILE (--url URL | --new FILE --consistency FILE) --log-key K ...
        [--out NEWFILE]

`verify` needs nothing but the file and the keys: the log's signature, the witnesses'
cosignatures under the policy (N of the given witness keys; all of them by default), the entry's
inclusion at its index, the entry's own signatures and, for a share, the share's inclusion in the
period's share tree. Exit 0: verified; 1: it does not verify; 2: bad usage or unreadable file.

`update` checks the old receipt, then a newer receipt for the same entry and an RFC 9162
consistency proof from the old checkpoint to the new one (fetched from --url, or given as files:
one base64 hash per line), and writes the newer receipt (to --out, else standard output).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from heartchain.errors import VerificationError
from heartchain.ledger.notes import CosignatureVerifier, NoteVerifier
from heartchain.ledger.receipts import (
    MAX_RECEIPT_SIZE,
    Receipt,
    TrustPolicy,
    Verified,
    verify_receipt,
    verify_update,
)

_CONSISTENCY_QUERY = ("query($a: Int64!, $b: Int64!) { consistencyProof(fromSize: $a, "
                      "toSize: $b) { hashes } }")


class UsageError(Exception):
    """Bad arguments or an unreadable file (exit 2)."""


def _read(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read(MAX_RECEIPT_SIZE + 1)
        with Path(path).open("rb") as handle:
            return handle.read(MAX_RECEIPT_SIZE + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: {exc}") from exc


def _policy(args: argparse.Namespace) -> TrustPolicy:
    try:
        log = NoteVerifier.from_verifier_key(args.log_key.strip())
        witnesses = tuple(CosignatureVerifier.from_verifier_key(k.strip())
                          for k in args.witness_key)
    except VerificationError as exc:
        raise UsageError(f"key: {exc}") from exc
    required = len(witnesses) if args.witnesses is None else args.witnesses
    if not 0 <= required <= len(witnesses):
        raise UsageError(f"--witnesses {required}: only {len(witnesses)} witness keys given")
    return TrustPolicy(log, witnesses, required)


def _time(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(verified: Verified, policy: TrustPolicy) -> str:
    """What the receipt proves and what the entry says, for a person to read."""
    document = verified.document
    checkpoint = verified.checkpoint
    lines = [f"receipt OK: entry {verified.index} ({document['kind']}) is in checkpoint "
             f"{checkpoint.size} of {checkpoint.origin}",
             f"  log signature: {policy.log.name}+{policy.log.key_id.hex()}"]
    if verified.cosigned_by:
        names = ", ".join(f"{name} (at {_time(ts)})" for name, ts in verified.cosigned_by)
        lines.append(f"  cosigned by {len(verified.cosigned_by)} trusted witnesses, "
                     f"{policy.required} required: {names}")
    else:
        lines.append(f"  no trusted witness cosigned it ({policy.required} required)")
    lines.append(f"  signed by: {', '.join(s['by'] for s in document['sigs'])}")
    lines.append(f"  signer's time: {document['at']}")
    if verified.share is not None:
        share, path = verified.share, verified.receipt.share
        position = path.position if path is not None else "?"
        lines.append(f"  share: {share.get('member')} paid {share.get('share')} fen in period "
                     f"{share.get('period')} (leaf {position} of "
                     f"{document['body'].get('members')} under the entry's share_root)")
    lines.append("  body:")
    body = json.dumps(document["body"], ensure_ascii=False, indent=2, sort_keys=True)
    lines.extend("    " + line for line in body.splitlines())
    return "\n".join(lines)


def _fetch_newer(url: str, old: Receipt, verified: Verified) -> tuple[str, list[bytes]]:
    import httpx

    base = url.rstrip("/")
    if old.share is not None:
        body = verified.document["body"]
        leaf = verified.share or {}
        path = (f"/plans/{quote(str(body['plan']), safe='')}/periods/{int(body['period'])}"
                f"/shares/{quote(str(leaf.get('member')), safe='')}/receipt")
    else:
        path = f"/entries/{old.index}/receipt"
    try:
        response = httpx.get(base + path, timeout=30)
        response.raise_for_status()
        newer = response.text
        new_size = _claimed_size(newer)
        hashes: list[bytes] = []
        if new_size != verified.checkpoint.size:
            answer = httpx.post(base + "/graphql", timeout=30, json={
                "query": _CONSISTENCY_QUERY,
                "variables": {"a": verified.checkpoint.size, "b": new_size}}).json()
            if answer.get("errors"):
                raise UsageError(f"{base}: {answer['errors'][0].get('message')}")
            hashes = [base64.b64decode(h, validate=True)
                      for h in answer["data"]["consistencyProof"]["hashes"]]
    except (httpx.HTTPError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise UsageError(f"{base}: {exc}") from exc
    return newer, hashes


def _claimed_size(text: str) -> int:
    """The checkpoint size a receipt claims (unverified: only to ask for a proof)."""
    note = Receipt.from_text(text).checkpoint
    return int(note.split("\n", 2)[1])


def _consistency_file(path: str) -> list[bytes]:
    try:
        return [base64.b64decode(line.strip(), validate=True)
                for line in _read(path).splitlines() if line.strip()]
    except (binascii.Error, ValueError) as exc:
        raise UsageError(f"{path}: not one base64 hash per line") from exc


def _verify(args: argparse.Namespace) -> int:
    policy = _policy(args)
    try:
        verified = verify_receipt(_read(args.file), policy)
    except VerificationError as exc:
        print(f"receipt does NOT verify: {exc}", file=sys.stderr)
        return 1
    print(describe(verified, policy))
    return 0


def _update(args: argparse.Namespace) -> int:
    policy = _policy(args)
    if bool(args.url) == bool(args.new):
        raise UsageError("give either --url, or --new and --consistency")
    try:
        old = verify_receipt(_read(args.file), policy)
    except VerificationError as exc:
        print(f"the old receipt does NOT verify: {exc}", file=sys.stderr)
        return 1
    if args.url:
        newer, hashes = _fetch_newer(args.url, old.receipt, old)
    else:
        if not args.consistency:
            raise UsageError("--new needs --consistency FILE (one base64 hash per line)")
        newer, hashes = _read(args.new), _consistency_file(args.consistency)
    try:
        new = verify_receipt(newer, policy)
        verify_update(old, new, hashes)
    except VerificationError as exc:
        print(f"the newer receipt does NOT keep the old one current: {exc}", file=sys.stderr)
        return 1
    if args.out:
        Path(args.out).write_text(newer, encoding="utf-8")
    else:
        sys.stdout.write(newer)
    print(f"receipt updated: entry {new.index} from checkpoint {old.checkpoint.size} to "
          f"{new.checkpoint.size} (consistent: {len(hashes)} hashes)", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heartchain receipt", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)

    def keys(p: argparse.ArgumentParser) -> None:
        p.add_argument("file", help="the receipt (.tlog-proof); - for standard input")
        p.add_argument("--log-key", required=True, help="the log's verifier key "
                                                        "(as at /log/verifier-key)")
        p.add_argument("--witness-key", action="append", default=[], metavar="KEY",
                       help="a witness's cosignature/v1 verifier key (repeat)")
        p.add_argument("--witnesses", type=int, metavar="N",
                       help="how many of the witness keys must have cosigned (default: all)")

    keys(sub.add_parser("verify", help="check a receipt offline and print what the entry says"))
    update = sub.add_parser("update", help="check a newer receipt for the same entry and a "
                                           "consistency proof, and write the newer receipt")
    keys(update)
    update.add_argument("--url", help="the log's address, to fetch both")
    update.add_argument("--new", metavar="FILE", help="a newer receipt for the same entry")
    update.add_argument("--consistency", metavar="FILE",
                        help="the consistency proof, one base64 hash per line")
    update.add_argument("--out", metavar="FILE", help="where to write the newer receipt")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    try:
        return _verify(args) if args.action == "verify" else _update(args)
    except UsageError as exc:
        print(f"heartchain receipt: {exc}", file=sys.stderr)
        return 2
