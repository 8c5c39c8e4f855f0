"""Seed a realistic demo: organisations, members and their activity, all through the log.

Each domain contributes a seeder; `heartchain demo` runs them in order. Seeding is idempotent: a
log that already holds the demo's charities is left as it is.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from heartchain.accounts.entries import RegisterBody
from heartchain.accounts.models import Account
from heartchain.accounts.services import issue_token, register_account
from heartchain.errors import HeartchainError
from heartchain.keys import Address, SigningKey, address_of
from heartchain.ledger.body import Body
from heartchain.ledger.log import Appended
from heartchain.platform import Platform
from heartchain.progress import ProgressBar

# How far back the demo's simulated history starts; seeders move the clock forward from there
# (mutual aid spends about 215 days on waiting periods, notice and deduction days, notice
# windows and its member jury).
HISTORY = timedelta(days=240)

ORGANISATIONS = [
    ("charity", "Sunrise Food Bank 朝阳食物银行"),
    ("charity", "Green Ridge Tree Planting 青山植树"),
    ("charity", "Hope Medical Aid Fund 希望医疗救助基金"),
    ("partner", "Cycle Share 单车共享"),
    ("investigator", "Fair Claims Investigations 公正理赔调查"),
    ("witness", "Riverside University Library 滨江大学图书馆"),
    ("witness", "City Charity Federation 市慈善总会"),
]


@dataclass
class DemoState:
    platform: Platform
    operator: Address
    rng: random.Random
    organisations: dict[str, Address] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    members: list[Address] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # (what it shows, a command to run): printed under "try:" after the pages to open.
    commands: list[tuple[str, str]] = field(default_factory=list)
    witness_ports: tuple[int, int] = (8101, 8102)


Seeder = Callable[[DemoState], Awaitable[None]]
SEEDERS: list[Seeder] = []


def seeder(function: Seeder) -> Seeder:
    SEEDERS.append(function)
    return function


# Entries of one batch are a second apart (a batch of 256 spans ~4 minutes, within the log's
# 5-minute clock tolerance), so a page of gifts does not show one minute for all of them.
_STEP_IN_BATCH = timedelta(seconds=1)


async def write_many(state: DemoState, label: str,
                     items: Sequence[tuple[Body, *tuple[SigningKey, ...]]], *,
                     spread: timedelta = timedelta(0)) -> list[Appended]:
    """Sign and append many entries in batches, with a progress bar; stop on the first refusal.

    With `spread`, the simulated clock moves forward that much over the whole run, so the
    entries' times are spread over days rather than all in one minute."""
    platform = state.platform
    bar = ProgressBar(label, len(items))
    done: list[Appended] = []
    size = min(platform.log.batch_size, 200) if spread else platform.log.batch_size
    batches = max(1, -(-len(items) // size))
    gap = spread / batches
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        if spread and start and gap > _STEP_IN_BATCH * len(chunk):
            # Move on before building: each batch must be appended within the log's clock
            # tolerance of the times its entries carry.
            platform.clock.advance(gap - _STEP_IN_BATCH * len(chunk))
        entries = []
        for body, *keys in chunk:
            entries.append(platform.signed(body, *keys))
            if spread:
                platform.clock.advance(_STEP_IN_BATCH)
        for outcome in await platform.log.append_now(entries):
            if isinstance(outcome, HeartchainError):
                raise outcome
            done.append(outcome)
        bar.update(len(done))
    bar.close()
    return done


@seeder
async def seed_accounts(state: DemoState, members: int = 300) -> None:
    platform = state.platform
    for role, label in ORGANISATIONS:
        registered = await register_account(platform, role=role, registrar=state.operator,
                                            label=label)
        state.organisations[label] = registered.address
        state.tokens[label] = await issue_token(platform, registered.address, "demo")
    operator_key = await platform.custodial_key(state.operator)
    keys = [await platform.new_custodial_key() for _ in range(members)]
    await write_many(state, "members", [
        (RegisterBody(address=address_of(k), role="member", registrar=state.operator),
         operator_key) for k in keys])
    state.members.extend(address_of(k) for k in keys)


async def already_seeded() -> bool:
    return await Account.filter(label=ORGANISATIONS[0][1]).exists()


async def run_demo(platform: Platform, operator: Address, *, seed: int = 2026,
                   witness_ports: tuple[int, int] = (8101, 8102)) -> DemoState:
    from heartchain.db import import_domain_modules

    import_domain_modules("demo")  # each domain's seeders register themselves, in DOMAINS order
    state = DemoState(platform, operator, random.Random(seed), witness_ports=witness_ports)
    for step in SEEDERS:
        await step(state)
    return state
