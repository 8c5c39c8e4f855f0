"""Bulk import of donations from a payment provider's export: a dry run, then the import.

The dry run reads every row, checks it (heartchain.finance.rows) and reports each bad row with
its row number, column and reason; it writes nothing, not even a donor. The import writes the
good rows that the charity has not recorded before, in chunks of `CHUNK_ROWS` rows: each chunk
is one all-or-nothing transaction on the log (Log.append_all) holding the `account.register` of
every payer new to the charity and a `donation.record` per row, signed by the charity. A chunk
that a rule refuses leaves nothing of itself; the report says which chunks landed. A large
file's rows are checked and its chunks signed partly in a forked worker process, so both cores
work (heartchain.finance.worker); the rows, rules and entries are the same either way.

Idempotent per provider transaction: each gift carries `reference`, a keyed hash of (charity,
transaction id), and a second donation with the same reference from the same charity is refused
(tokens.references). Rows whose reference is already on the log are skipped as "already
imported", so re-uploading a file writes nothing twice and a re-run after a failure resumes
where the landed chunks end. Payers' phones and ids never reach the log: each maps to the
charity's custodial donor the way tokens.donors does, with the contact sealed off the log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.connection import connections

from heartchain.accounts.entries import RegisterBody
from heartchain.accounts.models import Account
from heartchain.collector import fewer_collections
from heartchain.errors import NotFound, PermissionDenied
from heartchain.finance import signing
from heartchain.finance.mappings import Mapping, Resolved, find_header, mappings_to_try
from heartchain.finance.rows import Gift, Problem, check_rows
from heartchain.finance.sheets import read_rows
from heartchain.finance.worker import ImportWorker
from heartchain.keys import Address, SigningKey, address_of
from heartchain.ledger.body import Body
from heartchain.ledger.entries import format_time
from heartchain.ledger.kinds import SetRefused
from heartchain.ledger.store import execute_many
from heartchain.lookups import can_match
from heartchain.platform import Platform
from heartchain.privacy import keyed_hash
from tokens.donors import donors_for_contacts
from tokens.entries import RecordBody
from tokens.references import recorded_references
from tracing.campaign_models import DeclaredCampaign
from tracing.campaigns import DECLARED_FROM, campaign_key, other_owner, refusal

# Larger chunks write each randomly keyed index page (nonces, donors) to the WAL fewer times
# (2,000 rows: about a third less SQL time than 1,000 in bench/import.py); the log is locked
# for one chunk at a time, a few tenths of a second.
CHUNK_ROWS = 2000
Progress = Callable[[int, int], None]  # (rows done, rows to import)


def reference_of(platform: Platform, charity: str, transaction: str) -> str:
    """What the log holds for a provider transaction id: an HMAC under a key derived from the
    master key, so the public cannot confirm a guessed id; per charity."""
    return keyed_hash(platform, "import-transaction", f"{charity}\n{transaction}")


@dataclass
class Chunk:
    number: int
    first_row: int
    last_row: int
    rows: int
    landed: bool
    first_index: int | None = None
    last_index: int | None = None
    reason: str | None = None


@dataclass
class Report:
    mapping: str
    header_row: int
    columns: dict[str, str]  # field -> header in the file
    rows: int = 0  # data rows read (blank rows and # comment lines are not rows)
    valid: int = 0
    already: int = 0  # valid rows whose transaction the charity recorded before: skipped
    to_import: int = 0
    fen: int = 0  # total of the rows to import
    problems: list[Problem] = field(default_factory=list)
    dry_run: bool = True
    imported: int = 0
    donors_created: int = 0
    chunks: list[Chunk] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "mapping": self.mapping, "headerRow": self.header_row, "columns": self.columns,
            "rows": self.rows, "valid": self.valid, "already": self.already,
            "toImport": self.to_import, "fen": self.fen, "dryRun": self.dry_run,
            "imported": self.imported, "donorsCreated": self.donors_created,
            "problems": [{"row": p.row, "column": p.column, "reason": p.reason}
                         for p in self.problems],
            "chunks": [{"number": c.number, "firstRow": c.first_row, "lastRow": c.last_row,
                        "rows": c.rows, "landed": c.landed, "firstIndex": c.first_index,
                        "lastIndex": c.last_index, "reason": c.reason} for c in self.chunks],
        }


@dataclass
class Checked:
    report: Report
    pending: list[tuple[Gift, str]]  # the gifts to import, each with its reference
    referenced: list[tuple[Gift, str]]  # every valid gift with its reference, imported or not


async def require_charity(charity: str) -> Address:
    account = await Account.get_or_none(address=charity)
    if account is None:
        raise NotFound(f"no account {charity}")
    if account.role != "charity":
        raise PermissionDenied(f"{charity} is a {account.role}, not a charity")
    return Address(account.address)


async def check_file(platform: Platform, charity: str, data: bytes, *,
                     mapping: str | None = None, columns: Mapping | None = None,
                     campaign: str | None = None, worker: ImportWorker | None = None
                     ) -> Checked:
    """Read and check every row of `data` (CSV or XLSX); nothing is written. With a forked
    `worker`, it checks the second half of the rows while this process checks the first."""
    await require_charity(charity)
    rows = list(read_rows(data))
    tried = [columns] if columns is not None else await mappings_to_try(charity, mapping)
    resolved: Resolved = find_header(tried, rows)
    report = Report(resolved.name, resolved.header_row,
                    {f: header for f, (_, header) in resolved.columns.items()})
    now = platform.clock.now()
    numbered = [(number, cells)
                for number, cells in enumerate(rows[resolved.header_row:], resolved.header_row + 1)
                if any(c.strip() for c in cells) and not cells[0].lstrip().startswith("#")]
    report.rows = len(numbered)
    half = len(numbered) // 2
    if worker is not None:
        worker.fork_for(report.rows)
    later = None if worker is None else worker.run(
        check_rows, numbered[half:], resolved, default_campaign=campaign, now=now)
    results = check_rows(numbered if later is None else numbered[:half], resolved,
                         default_campaign=campaign, now=now)
    if later is not None:
        results += await later
    gifts: list[Gift] = []
    seen: dict[str, int] = {}
    for result in results:
        if isinstance(result, list):
            report.problems.extend(result)
            continue
        if result.transaction in seen:
            report.problems.append(Problem(result.row, resolved.columns["transaction"][1],
                                           f"transaction {result.transaction} is also in row "
                                           f"{seen[result.transaction]}"))
            continue
        seen[result.transaction] = result.row
        gifts.append(result)
    gifts = await _in_open_campaigns(platform, charity, gifts, resolved, now, report.problems)
    report.valid = len(gifts)
    referenced = [(g, reference_of(platform, charity, g.transaction)) for g in gifts]
    recorded = await recorded_references(platform.log.reader.connection(), charity,
                                         [r for _, r in referenced])
    pending = [(g, r) for g, r in referenced if r not in recorded]
    report.already = len(referenced) - len(pending)
    report.to_import = len(pending)
    report.fen = sum(g.fen for g, _ in pending)
    return Checked(report, pending, referenced)


async def _in_open_campaigns(platform: Platform, charity: str, gifts: list[Gift],
                             resolved: Resolved, now: datetime, problems: list[Problem]
                             ) -> list[Gift]:
    """The gifts whose campaign takes a donation now by the log's own rule
    (tracing.campaigns.refusal, with its reason); the others become problems, so the dry run
    reports them instead of a chunk failing."""
    column = resolved.columns["campaign"][1] if "campaign" in resolved.columns else "campaign"
    at = format_time(now)
    conn = platform.log.reader.connection()
    refused: dict[str, str] = {}
    for slug in sorted({g.campaign for g in gifts}):
        key = campaign_key(slug, charity)
        found = await DeclaredCampaign.get_or_none(key=key) \
            if can_match(DeclaredCampaign, key=key) else None
        row = None if found is None else {
            "starts": found.starts, "ends": found.ends, "outcome_deadline": found.outcome_deadline}
        legacy = at < DECLARED_FROM
        # As open_campaign asks: another charity's declaration matters only when one is needed.
        owner = None if found is not None or legacy else await other_owner(conn, slug)
        error = refusal(RecordBody.KIND, slug, charity, at, row, owner=owner, donation=True,
                        legacy=legacy)
        if error is not None:
            refused[slug] = str(error)
    kept = []
    for gift in gifts:
        reason = refused.get(gift.campaign)
        if reason is None:
            kept.append(gift)
        else:
            problems.append(Problem(gift.row, column, reason))
    problems.sort(key=lambda p: p.row)
    return kept


@dataclass
class _Plan:
    """One chunk's entries before signing: the new donors' registrations, then the gifts."""

    items: list[tuple[Body, SigningKey]]
    row_of: list[str]  # what each entry of the set is, for a refusal's reason
    registering: dict[Address, SigningKey]


def _plan(part: list[tuple[Gift, str]], charity: str, charity_key: SigningKey,
          addresses: dict[str, Address], unregistered: dict[Address, SigningKey]) -> _Plan:
    first_row: dict[Address, int] = {}
    for gift, _ in part:
        donor = addresses[gift.contact]
        if donor in unregistered:
            first_row.setdefault(donor, gift.row)
    registering = {donor: unregistered[donor] for donor in sorted(first_row)}
    items: list[tuple[Body, SigningKey]] = []
    row_of: list[str] = []
    for donor, key in registering.items():
        items.append((RegisterBody(address=donor, role="member", registrar=donor), key))
        row_of.append(f"the new donor of row {first_row[donor]}")
    for gift, reference in part:
        items.append((RecordBody(
            charity=Address(charity), donor=addresses[gift.contact], kind="cash",
            quantity=gift.fen, campaign=gift.campaign, reference=reference,
            paid_at=gift.paid_at), charity_key))
        row_of.append(f"row {gift.row}")
    return _Plan(items, row_of, registering)


async def _keep_transactions(referenced: list[tuple[Gift, str]]) -> None:
    """The provider transaction ids, off the log, for the charity's accounting export (the log
    holds only their keyed hash). Kept for every valid row, so re-uploading a file imported
    before these were kept fills them in; nothing changes for one kept already."""
    conn = connections.get("default")
    # In key order, so the primary key's index grows at its end instead of page by page.
    await execute_many(conn, "INSERT INTO finance_import_transaction (reference, "
                       "transaction_id) VALUES (?, ?) ON CONFLICT (reference) DO NOTHING",
                       sorted([reference, gift.transaction] for gift, reference in referenced))


async def dry_run(platform: Platform, charity: str, data: bytes, *,
                  mapping: str | None = None, columns: Mapping | None = None,
                  campaign: str | None = None) -> Report:
    with fewer_collections():
        async with ImportWorker() as worker:
            return (await check_file(platform, charity, data, mapping=mapping, columns=columns,
                                     campaign=campaign, worker=worker)).report


async def import_file(platform: Platform, charity: str, data: bytes, *,
                      mapping: str | None = None, columns: Mapping | None = None,
                      campaign: str | None = None, progress: Progress | None = None,
                      chunk_rows: int = CHUNK_ROWS) -> Report:
    """Check every row, then import the good ones not imported before, chunk by chunk."""
    with fewer_collections():
        async with ImportWorker() as worker:
            return await _import(platform, charity, data, worker, mapping=mapping,
                                 columns=columns, campaign=campaign, progress=progress,
                                 chunk_rows=chunk_rows)


async def _import(platform: Platform, charity: str, data: bytes, worker: ImportWorker, *,
                  mapping: str | None, columns: Mapping | None, campaign: str | None,
                  progress: Progress | None, chunk_rows: int) -> Report:
    checked = await check_file(platform, charity, data, mapping=mapping, columns=columns,
                               campaign=campaign, worker=worker)
    report = checked.report
    report.dry_run = False
    total = len(checked.pending)
    charity_key = await platform.custodial_key(charity)
    if progress is not None:
        progress(0, total)
    # Every payer's donor at once (one keyed hash and lookup per payer, not per chunk): their
    # mappings are off the log and written before any chunk, as donors_for_contacts says.
    donors = await donors_for_contacts(platform, [g.contact for g, _ in checked.pending],
                                       charity=charity)
    await _keep_transactions(checked.referenced)
    # A donor is registered in the first chunk that names it; a chunk refused leaves its
    # donors for the next chunk naming them. Chunk k + 1 is built and signed while chunk k is
    # appended, as if k lands (its donors then registered); if k is refused, k + 1 is built
    # and signed again with k's donors back among the unregistered.
    unregistered = {address_of(key): key for key in donors.unregistered}
    parts = [checked.pending[at:at + chunk_rows] for at in range(0, total, chunk_rows)]

    def begin(number: int, *, now: bool = False) -> tuple[_Plan, signing.Pending]:
        plan = _plan(parts[number], charity, charity_key, donors.addresses, unregistered)
        for donor in plan.registering:
            del unregistered[donor]
        return plan, signing.begin(worker, plan.items, format_time(platform.clock.now()),
                                   now=now)

    done = 0
    upcoming = begin(0, now=True) if parts else None
    for number, part in enumerate(parts):
        plan, pending = upcoming or begin(number, now=True)  # always begun by the turn before
        upcoming = begin(number + 1) if number + 1 < len(parts) else None
        chunk = Chunk(number + 1, part[0][0].row, part[-1][0].row, len(part), landed=False)
        report.chunks.append(chunk)
        signed = await pending.signed()
        position = {id(entry): n for n, (entry, _) in enumerate(signed)}
        try:
            appended = await platform.log.append_all(signed)
        except SetRefused as exc:
            where = position.get(id(exc.entry))
            entry = "an entry" if where is None else plan.row_of[where]
            chunk.reason = f"{entry}: {exc.error}"
            unregistered.update(plan.registering)
            if upcoming is not None:  # built as if this chunk landed: build it again
                upcoming[1].discard()
                unregistered.update(upcoming[0].registering)
                upcoming = begin(number + 1, now=True)
        else:
            chunk.landed = True
            chunk.first_index, chunk.last_index = appended[0].index, appended[-1].index
            report.imported += len(part)
            report.donors_created += len(plan.registering)
        done += len(part)
        if progress is not None:
            progress(done, total)
    return report
