"""The jury draw, as anyone can recompute it. Pure: no database, no network.

Inputs, all public:
- `root`: the root hash (32 bytes, hex) of a witnessed checkpoint of the log signed after the
  objection window closed: nobody, the operator included, knew it while members could object;
- `case`: the case id;
- `pool`: the eligible members' addresses (covered, volunteered and qualified jurors of the
  plan; never the claimant, the case's opener, an objector, or anyone linked to one of them by a
  `member.link`), as the case page lists them (/cases/<id>/jury/pool.txt);
- `size`: how many jurors the plan's `plan.jury` settings draw.

Each address gets the rank ``HMAC-SHA256(key=root, msg="heartchain/jury-draw/v1\\n" + case +
"\\n" + address)``; the jurors are the `size` addresses with the smallest ranks (as big-endian
bytes), in that order. The `jury.draw` entry names the checkpoint and the jurors, and its
rules recompute this and refuse any other set.

Recompute a draw from the command line:

    curl -s https://<host>/cases/<id>/jury/pool.txt | \\
      python -m heartchain.mutualaid.draw --root <checkpoint root hex> --case <id> --size <n>

It prints the pool's digest (as on the page and in the entry), then the jurors, one a line.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import sys
from collections.abc import Iterable, Sequence

DOMAIN = b"heartchain/jury-draw/v1\n"
POOL_DOMAIN = b"heartchain/jury-pool/v1\n"


def rank(root: bytes, case: str, address: str) -> bytes:
    """An address's place in the draw: smaller is drawn first."""
    return hmac.digest(root, DOMAIN + case.encode() + b"\n" + address.encode(), "sha256")


def draw(root: bytes, case: str, pool: Iterable[str], size: int) -> list[str]:
    """The `size` addresses of `pool` with the smallest ranks, smallest first (all of them, in
    rank order, if the pool is smaller)."""
    if len(root) != 32:
        raise ValueError("root: a 32-byte hash")
    return sorted(set(pool), key=lambda a: rank(root, case, a))[:max(size, 0)]


def pool_text(pool: Iterable[str]) -> str:
    """The pool as published and hashed: sorted addresses, one a line, each ending in \\n."""
    return "".join(f"{a}\n" for a in sorted(set(pool)))


def pool_digest(pool: Iterable[str]) -> str:
    """SHA-256 (hex) over the domain line and `pool_text`: names the exact pool ranked."""
    return hashlib.sha256(POOL_DOMAIN + pool_text(pool).encode()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m heartchain.mutualaid.draw",
        description="Recompute a mutual-aid jury draw from a checkpoint's root hash. Reads the "
                    "eligible addresses (one a line) on standard input.")
    parser.add_argument("--root", required=True, help="the checkpoint's root hash, hex")
    parser.add_argument("--case", required=True, help="the case id")
    parser.add_argument("--size", required=True, type=int, help="jurors drawn")
    args = parser.parse_args(argv)
    try:
        root = bytes.fromhex(args.root)
    except ValueError:
        parser.error("--root: not hex")
    if len(root) != 32:
        parser.error("--root: a 32-byte hash (64 hex digits)")
    pool = [line.strip() for line in sys.stdin if line.strip()]
    print(f"pool {len(set(pool))} digest {pool_digest(pool)}")
    for address in draw(root, args.case, pool, args.size):
        print(address)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
