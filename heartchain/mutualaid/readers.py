"""A plan's covered set, read raw and streamed: for apportioning a period over millions.

The covered-member predicate (plan, log time), and the share-tree order: join order, which the
(plan, joined_idx) index yields without a sort. Rows are read a chunk at a time from one cursor,
so memory stays bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.ledger.store import in_chunks, is_postgres, sql
from heartchain.mutualaid.membership import membership_id
from heartchain.mutualaid.models import MEMBERSHIP_JOIN_ORDER

ACTIVE = "plan = ? AND status = 'active' AND covered_from <= ?"
COVERED = f"{ACTIVE} AND balance_fen > 0"
# The member set a period.notice committed, as it stands later: covered at the snapshot, joined
# before the notice, and still active or left since (they pay 0). Nothing else can enter or leave
# it before the deduction (notices.py), so no row needs marking: values plan, snapshot_at,
# notice idx, notice idx.
COUNTED = ("plan = ? AND covered_from <= ? AND joined_idx < ? AND (status = 'active' "
           "OR (status = 'left' AND left_idx > ?))")
CHUNK = 65_536  # a multiple of the 256-leaf page


def _source(conn: BaseDBAsyncClient) -> tuple[str, str]:
    """The address as bytes, and the table read in join order (SQLite: by naming the index)."""
    if is_postgres(conn):
        return "convert_to(member, 'UTF8')", "ma_membership"
    return "CAST(member AS BLOB)", f"ma_membership INDEXED BY {MEMBERSHIP_JOIN_ORDER}"


def members_sql(conn: BaseDBAsyncClient, where: str) -> str:
    """The addresses (bytes) of the members `where` selects, in share-tree order."""
    address, table = _source(conn)
    return f"SELECT {address} FROM {table} WHERE {where} ORDER BY joined_idx"


def year_room(year: int, year_cap: int) -> str:
    """SQL: what the per-year cap still lets a member pay in plan year `year` (never < 0)."""
    y, cap = int(year), int(year_cap)
    return (f"(CASE WHEN share_year <> {y} THEN {cap} WHEN year_shared_fen < {cap} "
            f"THEN {cap} - year_shared_fen ELSE 0 END)")


def year_shared(year: int) -> str:
    """SQL: the shares a member paid so far in plan year `year`."""
    return f"(CASE WHEN share_year = {int(year)} THEN year_shared_fen ELSE 0 END)"


def limit_sql(share: int, year: int, year_cap: int) -> str:
    """SQL: the most a member pays this period: the share, or less under the per-year cap."""
    if not year_cap:
        return str(int(share))
    room = year_room(year, year_cap)
    return f"(CASE WHEN {room} < {int(share)} THEN {room} ELSE {int(share)} END)"


def covered_sql(conn: BaseDBAsyncClient, share: int, where: str = COVERED, *, year: int = 0,
                year_cap: int = 0) -> str:
    """Each sharing member in share-tree order: address (bytes); then NULL, NULL, NULL for one
    who pays the full share, else what they pay, their per-year room if that is below the share,
    and 1 if they lapse (pay their whole balance). `where` selects the members: covered now, or
    the set a notice counted (whose members may have left since: they pay 0)."""
    address, table = _source(conn)
    limit = limit_sql(share, year, year_cap)
    room = f"CASE WHEN status = 'active' AND {year_room(year, year_cap)} < {int(share)} " \
           f"THEN {year_room(year, year_cap)} END" if year_cap else "NULL"
    pays = (f"CASE WHEN status <> 'active' THEN 0 WHEN balance_fen <= {limit} THEN balance_fen "
            f"WHEN {limit} < {int(share)} THEN {limit} END")
    lapse = f"CASE WHEN status = 'active' AND balance_fen <= {limit} THEN 1 END"
    return (f"SELECT {address}, {pays}, {room}, {lapse} FROM {table} WHERE {where} "
            f"ORDER BY joined_idx")


class Reader:
    """Raw reads on one connection (the transaction's, or a pooled one in a read-only snapshot),
    so a period's aggregates and its streamed leaves see the same covered set."""

    def __init__(self, conn: BaseDBAsyncClient, raw: Any) -> None:
        self.postgres = is_postgres(conn)
        self.conn, self.raw = conn, raw

    async def row(self, query: str, values: list[Any]) -> list[Any]:
        return list((await self.rows(query, values))[0])

    async def rows(self, query: str, values: list[Any]) -> list[Any]:
        if self.postgres:
            return list(await self.raw.fetch(sql(self.conn, query), *values))
        async with self.raw.execute(query, values) as cursor:
            return list(await cursor.fetchall())

    async def chunks(self, query: str, values: list[Any]) -> AsyncIterator[list[Any]]:
        """The rows of `query` (as tuples), a chunk at a time from one cursor."""
        if self.postgres:
            cursor = await self.raw.cursor(sql(self.conn, query), *values)
            while rows := await cursor.fetch(CHUNK):
                yield rows
            return
        cursor = await self.raw.execute(query, values)
        cursor.row_factory = None  # plain tuples: cheaper than the client's sqlite3.Row
        # Fetch the next chunk in SQLite's thread while the caller hashes this one.
        pending = asyncio.ensure_future(cursor.fetchmany(CHUNK))
        try:
            while rows := await pending:
                pending = asyncio.ensure_future(cursor.fetchmany(CHUNK))
                yield rows
        finally:
            await asyncio.wait([pending])
            await cursor.close()


async def joined_of(read: Reader, plan: str, members: Sequence[bytes]) -> list[int]:
    """The joined_idx of each of `members` (by primary key, a few hundred at a time)."""
    found: dict[str, int] = {}
    for chunk in in_chunks(members):
        ids = [membership_id(plan, m.decode()) for m in chunk]
        marks = ", ".join("?" * len(ids))
        for row in await read.rows(f"SELECT id, joined_idx FROM ma_membership "
                                   f"WHERE id IN ({marks})", ids):
            found[row[0]] = int(row[1])
    return [found[membership_id(plan, m.decode())] for m in members]


@asynccontextmanager
async def reader(conn: BaseDBAsyncClient) -> AsyncIterator[Reader]:
    async with conn.acquire_connection() as raw:
        if is_postgres(conn) and not raw.is_in_transaction():
            async with raw.transaction(isolation="repeatable_read", readonly=True):
                yield Reader(conn, raw)
        else:
            yield Reader(conn, raw)


async def covered_count(conn: BaseDBAsyncClient, plan: str, now: str) -> int:
    """How many members of `plan` are covered at log time `now`."""
    _, rows = await conn.execute_query(
        sql(conn, f"SELECT count(*) FROM ma_membership WHERE {COVERED}"), [plan, now])
    return int(rows[0][0])
