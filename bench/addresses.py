"""Address codec benchmark: each figure printed beside its baseline, as a ratio, in one run.

    python bench/addresses.py [--n 20000] [--repeat 5] [--json]

Encode (32-byte public key -> `hc1p...` address) and decode (address -> VerifyKey, with the same
checks: prefix, checksum, version, padding) per second, for heartchain's own BIP-350 codec
(`heartchain.keys`, memo caches bypassed) against the reference `bech32m` package doing the same
job on the same --n random keys; the best of --repeat runs of each. The memoized path that the
log actually takes for a repeated signer is reported against the cold codec.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bech32m
from figures import figure, report
from nacl.signing import VerifyKey

from heartchain import keys

# The codec under the memo caches: the figures compare codecs, not cache hits.
hand_encode = keys.encode_address.__wrapped__
hand_decode = keys.verify_key_of.__wrapped__


def package_encode(public_key: bytes) -> str:
    return str(bech32m.encode(keys.ADDRESS_HRP, 1, public_key))


def package_decode(address: str) -> VerifyKey:
    # What verify_key_of would be on top of the package: it accepts upper case, which we refuse.
    if address != address.lower():
        raise ValueError("upper case")
    decoded = bech32m.decode(keys.ADDRESS_HRP, address)
    if decoded.witver != 1 or len(decoded.witprog) != 32:
        raise ValueError("not an hc address")
    return VerifyKey(bytes(decoded.witprog))


def rate(function: Callable[[Any], object], inputs: Sequence[Any], repeat: int) -> float:
    """Calls per second over `inputs`, the best of `repeat` passes."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for value in inputs:
            function(value)
        best = min(best, time.perf_counter() - start)
    return len(inputs) / best


def run(n: int, repeat: int) -> list[dict[str, object]]:
    public_keys = [os.urandom(32) for _ in range(n)]
    addresses = [hand_encode(k) for k in public_keys]
    # Same inputs, same outputs: otherwise the race means nothing.
    assert addresses == [package_encode(k) for k in public_keys]
    assert [bytes(hand_decode(a)) for a in addresses[:1000]] == public_keys[:1000]
    assert [bytes(package_decode(a)) for a in addresses[:1000]] == public_keys[:1000]

    encode_hand = rate(hand_encode, public_keys, repeat)
    encode_package = rate(package_encode, public_keys, repeat)
    decode_hand = rate(hand_decode, addresses, repeat)
    decode_package = rate(package_decode, addresses, repeat)
    keys.verify_key_of.cache_clear()
    decode_memo = rate(keys.verify_key_of, addresses[:1000], repeat)  # first pass fills it
    return [
        figure("encode_hand", encode_hand, "encodes/s", encode_package, "bech32m package"),
        figure("decode_hand", decode_hand, "decodes/s", decode_package,
               "bech32m package + VerifyKey"),
        figure("decode_memoized", decode_memo, "decodes/s", decode_hand,
               "hand codec, cold"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="distinct random public keys")
    parser.add_argument("--repeat", type=int, default=5, help="passes; the best one counts")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.n, args.repeat)
    report("addresses", f"address codec benchmarks (n={args.n:,}, best of {args.repeat})",
           results, as_json=args.json, n=args.n, repeat=args.repeat)


if __name__ == "__main__":
    main()
