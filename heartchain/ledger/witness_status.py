"""What the log's HTTP endpoints say of its witnessing: the checkpoint `/log/checkpoint` serves
(the newest one the policy's witnesses have cosigned enough, see `witnessed.py`) and the
`/log/witnesses` report (the policy, each witness's progress, recent refusals)."""

from __future__ import annotations

from typing import Any

from heartchain.ledger.log import Log
from heartchain.ledger.witness_client import policy_for
from heartchain.ledger.witness_policy import WitnessPolicy
from heartchain.ledger.witnessed import CosignedCheckpoint, cosigned, witnessed_checkpoint
from heartchain.witness.models import WitnessCosignature, WitnessRefusal


async def served_checkpoint(log: Log, policy: WitnessPolicy | None = None
                            ) -> CosignedCheckpoint:
    """What `GET /log/checkpoint` serves (see witnessed.py)."""
    the_policy = policy or policy_for(log)
    found = await witnessed_checkpoint(log, the_policy)
    if found is not None:
        return found
    return await cosigned(log, the_policy, await log.latest_checkpoint())


async def witnesses_report(log: Log, *, refusals: int = 50) -> dict[str, Any]:
    """What `GET /log/witnesses` shows: the policy, each witness's progress, recent refusals."""
    policy = policy_for(log)
    latest = await log.latest_checkpoint()
    witnessed = await witnessed_checkpoint(log, policy) if policy.witnesses else None
    report: dict[str, Any] = {
        "policy": policy.description, "required": policy.required,
        "latest_size": latest.size,
        "witnessed_size": witnessed.signed.size if witnessed is not None else None,
        # The declared call rate: at most this many requests per second to each witness.
        "max_calls_per_second": policy.calls_per_second,
        "witnesses": [], "refusals": [],
    }
    for endpoint in policy.witnesses:
        row = await WitnessCosignature.filter(witness=endpoint.name).order_by("-size").first()
        report["witnesses"].append({
            "name": endpoint.name, "label": endpoint.label, "url": endpoint.url,
            "verifier_key": endpoint.verifier.verifier_key,
            "cosigned_size": row.size if row is not None else None,
            "cosigned_at": row.timestamp if row is not None else None})
    if policy.witnesses:
        for refusal in await WitnessRefusal.all().order_by("-id").limit(refusals):
            report["refusals"].append({
                "witness": refusal.witness, "size": refusal.size, "old_size": refusal.old_size,
                "status": refusal.status, "body": refusal.body, "at": refusal.at.isoformat()})
    return report
