"""Ask each configured witness how far it cosigned this log; check the store is not behind.

A store rolled back as a whole (entries, tiles, checkpoints, head, projections and the witness
rows restored together from an older copy) is consistent inside: only someone outside can say
it once was longer. Witnesses keep the newest checkpoint they cosigned; our witness serves it
with its cosignature at `GET <url>/checkpoint?origin=<origin>` (C2SP tlog-witness leaves its
monitor retrieval "TBD"). For each witness this checks, with `ledger.audit.check_against`:
the log's signature and the witness's cosignature on that note, that the store holds at least
that many entries, the same root and the same checkpoint text at that size, and that its newest
checkpoint is consistent with it.

    views = await ask_witnesses(platform.log, WitnessPolicy.from_env())
    print("\\n".join(view.summary() for view in views))
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from heartchain.errors import HeartchainError
from heartchain.ledger.audit import Audited, check_against
from heartchain.ledger.log import Log
from heartchain.ledger.witness_policy import WitnessEndpoint, WitnessPolicy


@dataclass(frozen=True)
class WitnessView:
    witness: str
    audited: Audited | None  # None: the check failed or the witness did not answer
    problem: str = ""
    answered: bool = True  # False: unreachable, or it had cosigned nothing of this log

    @property
    def ok(self) -> bool:
        return self.audited is not None

    def summary(self) -> str:
        if self.audited is not None:
            return f"{self.witness}: {self.audited.summary()}"
        return f"{self.witness}: {self.problem}"


def checkpoint_url(endpoint: WitnessEndpoint) -> str:
    """Where the witness serves its newest cosigned checkpoint (submission prefix = monitoring
    prefix, as tlog-witness allows)."""
    return endpoint.url.rstrip("/") + "/checkpoint"


async def ask_witnesses(log: Log, policy: WitnessPolicy, *, recompute: bool = True,
                        http: httpx.AsyncClient | None = None) -> list[WitnessView]:
    """One view per configured witness, in the policy's order; `recompute` also folds the
    root from the stored entries, not only the tiles."""
    client = http or httpx.AsyncClient(timeout=policy.timeout)
    try:
        return [await _ask(log, endpoint, client, recompute) for endpoint in policy.witnesses]
    finally:
        if http is None:
            await client.aclose()


async def _ask(log: Log, endpoint: WitnessEndpoint, http: httpx.AsyncClient,
               recompute: bool) -> WitnessView:
    try:
        response = await http.get(checkpoint_url(endpoint), params={"origin": log.origin})
    except httpx.HTTPError as exc:
        return WitnessView(endpoint.name, None, f"unreachable: {type(exc).__name__}: {exc}",
                           answered=False)
    if response.status_code == 404:
        return WitnessView(endpoint.name, None, f"has cosigned no checkpoint of {log.origin}",
                           answered=False)
    if response.status_code != 200:
        return WitnessView(endpoint.name, None, f"answered {response.status_code}: "
                           f"{response.text.strip()[:200]}", answered=False)
    try:
        audited = await check_against(log, response.text, log.signer.verifier_key,
                                      witness_keys=[endpoint.verifier.verifier_key],
                                      recompute=recompute)
    except HeartchainError as exc:
        return WitnessView(endpoint.name, None, f"the store does not match the checkpoint it "
                                                f"cosigned: {exc}")
    return WitnessView(endpoint.name, audited)


def judge(policy: WitnessPolicy, views: list[WitnessView]) -> str | None:
    """Why the store fails the check, or None: every witness that answered matches, and at
    least as many answered as the policy requires."""
    mismatched = [view for view in views if view.answered and not view.ok]
    if mismatched:
        return "; ".join(view.summary() for view in mismatched)
    answered = sum(view.ok for view in views)
    if answered < policy.required:
        return (f"only {answered} of the {policy.required} witnesses the policy requires "
                f"confirmed the store")
    return None
