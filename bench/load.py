"""Load test of the production layout: `heartchain serve --workers N` on one PostgreSQL database,
with two witnesses cosigning, driven over HTTP on 127.0.0.1 with a realistic mix.

    python bench/load.py [--seconds 15] [--requests 100000] [--clients 16] [--workers 1,2]
                         [--seed demo|light] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
                         [--keep] [--json]

1. Creates its own database (dropped at the end unless --keep) and data directory; seeds it with
   `heartchain demo` (26,600 entries: realistic depth for proofs and pages) or `--seed light`
   (`heartchain init` only); starts the two witnesses (`heartchain witness serve`) and points the
   log at them (HEARTCHAIN_WITNESSES, policy 2 of 2).
2. Setup over GraphQL with an operator token: a charity, a partner, members who consent to the
   partner, and per client two custodians and a lot they hand to each other.
3. For each worker count in --workers (default 1 then 2): starts `heartchain serve --workers N`
   and runs --clients closed-loop clients for --seconds or --requests (whichever ends first),
   each picking an operation by weight:

   | op         | what                                                              | writes |
   |------------|-------------------------------------------------------------------|--------|
   | donation   | recordDonation (charity token) for a member                       | 1      |
   | handover   | offerLot (giver's token) then acceptLot (taker's token)           | 1      |
   | check      | checkHearts (partner token) on a member who consented             | 1      |
   | lot_page   | GET /lots/<id> (the QR landing page)                              |        |
   | donor_page | GET /members/<address> (hearts, gifts, where each went)           |        |
   | proof      | GraphQL entry(index) { leafHash inclusionProof { hashes } }       |        |
   | tile       | GET /log/tile/0/<N> or /log/tile/entries/<N> (full tiles)         |        |

   and reports throughput and p50/p99 latency per operation, and the ratio N workers / 1.
4. Afterwards: every acknowledged write (index + leaf hash from its response) is read back
   through /log/tile/entries and compared, and `heartchain verify` must pass.

Each phase also prints the cores used by the servers, witnesses, PostgreSQL, the generator and
the whole machine (from /proc), and the integration batches from the workers' /metrics (count,
entries per batch, milliseconds per batch, lock waits included): on a shared machine these
say why the throughput is what it is.

Figures: the servers' CPU time per request; each operation's latency under load beside the
same operation unloaded (one request at a time, measured first); the 2-worker figures beside
the 1-worker ones; the 1-worker total beside STACK.md's trivial strawberry query on one worker.
The load generator is a minimal keep-alive HTTP/1.1 client (httpx costs more CPU than the
servers it measures), but it still shares the machine's cores with the servers, PostgreSQL and
the witnesses.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from figures import figure, report

from heartchain.ledger import merkle
from heartchain.ledger.tiles import TILE_WIDTH, decode_entry_bundle

PYTHON = sys.executable
STRAWBERRY_BASELINE = 3500.0  # STACK.md: trivial strawberry query, 1 uvicorn worker, req/s
WITNESSES = [("riverside", "riverside-library.witness.localhost"),
             ("federation", "city-charity-federation.witness.localhost")]
MIX = {"donation": 20, "handover": 10, "check": 10, "lot_page": 15, "donor_page": 15,
       "proof": 15, "tile": 15}
WRITES = ("donation", "handover", "check")

# ---------------------------------------------------------------------------------------------
# A minimal keep-alive HTTP/1.1 client: one connection per simulated client.


class HTTPError(Exception):
    pass


class Connection:
    def __init__(self, port: int, timeout: float = 60) -> None:
        self.port = port
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                return await asyncio.wait_for(self._exchange(method, path, body, headers or {}),
                                              self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if fresh or attempt:  # a kept-alive connection the server closed: retry once
                    raise
        raise HTTPError("unreachable")

    async def _exchange(self, method: str, path: str, body: bytes | None,
                        headers: dict[str, str]) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            raise ConnectionError("not connected")
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        await self.writer.drain()
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if chunked:
            data = bytearray()
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                data += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
            while await self.reader.readuntil(b"\r\n") != b"\r\n":
                pass
            payload = bytes(data)
        elif length is not None:
            payload = await self.reader.readexactly(length)
        else:
            payload = await self.reader.read()
            close = True
        if close:
            await self.close()
        return status, payload

    async def get(self, path: str) -> bytes:
        status, payload = await self.request("GET", path)
        if status != 200:
            raise HTTPError(f"GET {path}: {status} {payload[:200]!r}")
        return payload

    async def gql(self, query: str, variables: dict[str, Any] | None = None,
                  token: str | None = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        status, payload = await self.request("POST", "/graphql", body, headers)
        if status != 200:
            raise HTTPError(f"graphql: {status} {payload[:300]!r}")
        document = json.loads(payload)
        if document.get("errors"):
            raise HTTPError(f"graphql: {document['errors'][0].get('message')}")
        data: dict[str, Any] = document["data"]
        return data


def result_of(data: dict[str, Any], field_name: str, success: str) -> dict[str, Any]:
    result: dict[str, Any] = data[field_name]
    if result.get("__typename") != success:
        raise HTTPError(f"{field_name}: {result.get('__typename')}: {result.get('message')}")
    return result


# ---------------------------------------------------------------------------------------------
# GraphQL documents

FAILURES = ("... on ValidationError { message } ... on PermissionDenied { message } "
            "... on NotFound { message } ... on Conflict { message }")
REGISTER = ("mutation($role: String!, $label: String) { registerAccount(role: $role, "
            "label: $label) { __typename ... on AccountRegistered { token account { address } } "
            f"{FAILURES} }} }}")
CONSENT = ("mutation($partner: String!) { grantConsent(partner: $partner, days: 365) { "
           f"__typename ... on ConsentGranted {{ entry {{ index leafHash }} }} {FAILURES} }} }}")
CREATE_LOT = ("mutation($input: CreateLotInput!) { createLot(input: $input) { __typename "
              f"... on LotChanged {{ lot {{ id }} entry {{ index leafHash }} }} {FAILURES} }} }}")
DONATE = ("mutation($donor: String!, $kind: String!, $q: Int64!) { recordDonation(donor: $donor,"
          " kind: $kind, quantity: $q, campaign: \"load-test\") { __typename "
          "... on DonationRecorded { donation { index hearts } entry { index leafHash } } "
          f"{FAILURES} }} }}")
OFFER = ("mutation($lot: String!, $to: String!, $evidence: String!) { offerLot(lotId: $lot, "
         "to: $to, place: \"Depot 3 仓库\", evidence: $evidence) { __typename "
         f"... on HandoverOffered {{ offer {{ id }} }} {FAILURES} }} }}")
ACCEPT = ("mutation($offer: String!) { acceptLot(offerId: $offer) { __typename "
          "... on LotChanged { lot { custodian } entry { index leafHash } } "
          f"{FAILURES} }} }}")
CHECK = ("mutation($member: String!, $t: Int64!) { checkHearts(member: $member, threshold: $t) {"
         " __typename ... on HeartsChecked { atLeast entry { index leafHash } } "
         f"{FAILURES} }} }}")
PROOF = ("query($i: Int64!) { entry(index: $i) { index leafHash inclusionProof { treeSize "
         "hashes checkpoint { rootHash } } } }")


# ---------------------------------------------------------------------------------------------
# The world the clients act in


@dataclass
class Party:
    address: str
    token: str


@dataclass
class Lane:
    """One client's lot and the two custodians who hand it to each other."""

    lot: str
    holders: tuple[Party, Party]
    current: int = 0


@dataclass
class World:
    port: int
    charity: Party
    partner: Party
    members: list[Party]
    lanes: list[Lane]
    size: int  # log size when the run started: proofs and tiles are read below it


@dataclass
class Ack:
    op: str
    index: int
    leaf_hash: bytes


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # cores used, by whom, during the run
    integration: dict[str, float] = field(default_factory=dict)  # from the workers' /metrics

    def record(self, op: str, seconds: float) -> None:
        self.latencies.setdefault(op, []).append(seconds)

    def fail(self, op: str, exc: BaseException) -> None:
        self.errors[op] = self.errors.get(op, 0) + 1
        if len(self.messages) < 10:
            self.messages.append(f"{op}: {type(exc).__name__}: {exc}"[:300])

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.latencies.values())


def _ack(op: str, entry: dict[str, Any]) -> Ack:
    return Ack(op, int(entry["index"]), base64.b64decode(entry["leafHash"]))


Op = Callable[[Connection, World, Lane, random.Random], Awaitable[Ack | None]]


async def op_donation(conn: Connection, world: World, lane: Lane, rng: random.Random) -> Ack:
    kind = rng.choice(["cash", "cash", "food", "tree"])
    quantity = {"cash": rng.randint(500, 50_000), "food": rng.randint(1000, 20_000),
                "tree": rng.randint(1, 20)}[kind]
    data = await conn.gql(DONATE, {"donor": rng.choice(world.members).address, "kind": kind,
                                   "q": quantity}, world.charity.token)
    return _ack("donation", result_of(data, "recordDonation", "DonationRecorded")["entry"])


async def op_handover(conn: Connection, world: World, lane: Lane, rng: random.Random) -> Ack:
    giver, taker = lane.holders[lane.current], lane.holders[1 - lane.current]
    offered = result_of(await conn.gql(OFFER, {"lot": lane.lot, "to": taker.address,
                                               "evidence": secrets.token_hex(32)}, giver.token),
                        "offerLot", "HandoverOffered")
    accepted = result_of(await conn.gql(ACCEPT, {"offer": offered["offer"]["id"]}, taker.token),
                         "acceptLot", "LotChanged")
    lane.current = 1 - lane.current
    return _ack("handover", accepted["entry"])


async def op_check(conn: Connection, world: World, lane: Lane, rng: random.Random) -> Ack:
    data = await conn.gql(CHECK, {"member": rng.choice(world.members).address,
                                  "t": rng.choice([1000, 100_000])}, world.partner.token)
    return _ack("check", result_of(data, "checkHearts", "HeartsChecked")["entry"])


async def op_lot_page(conn: Connection, world: World, lane: Lane, rng: random.Random) -> None:
    await conn.get(f"/lots/{rng.choice(world.lanes).lot}")


async def op_donor_page(conn: Connection, world: World, lane: Lane, rng: random.Random) -> None:
    await conn.get(f"/members/{rng.choice(world.members).address}")


async def op_proof(conn: Connection, world: World, lane: Lane, rng: random.Random) -> None:
    data = await conn.gql(PROOF, {"i": rng.randrange(world.size)})
    if not data["entry"] or not data["entry"]["inclusionProof"]["hashes"]:
        raise HTTPError(f"entry: no proof in {str(data)[:200]}")


async def op_tile(conn: Connection, world: World, lane: Lane, rng: random.Random) -> None:
    full = world.size // TILE_WIDTH
    if full == 0:  # a small (light-seeded) log: its one partial bundle
        data = await conn.get(f"/log/tile/entries/000.p/{world.size}")
        if len(decode_entry_bundle(data)) != world.size:
            raise HTTPError("entry bundle: wrong width")
    elif rng.random() < 0.5:
        data = await conn.get(f"/log/tile/0/{_tile_index(rng.randrange(full))}")
        if len(data) != TILE_WIDTH * 32:
            raise HTTPError(f"hash tile: {len(data)} bytes")
    else:
        data = await conn.get(f"/log/tile/entries/{_tile_index(rng.randrange(full))}")
        if len(decode_entry_bundle(data)) != TILE_WIDTH:
            raise HTTPError("entry bundle: not full")


def _tile_index(n: int) -> str:
    from heartchain.ledger.tiles import index_path

    return index_path(n)


OPS: dict[str, Op] = {"donation": op_donation, "handover": op_handover, "check": op_check,
                      "lot_page": op_lot_page, "donor_page": op_donor_page, "proof": op_proof,
                      "tile": op_tile}


async def run_clients(world: World, mix: dict[str, int], clients: int, seconds: float,
                      requests: int, seed: int) -> Tally:
    """Closed loop: each client runs one operation after another until time or count is up."""
    tally = Tally()
    names = [n for n in mix if mix[n] > 0]
    weights = [mix[n] for n in names]
    deadline = time.perf_counter() + seconds
    budget = [requests]

    async def client(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        lane = world.lanes[number % len(world.lanes)]
        conn = Connection(world.port)
        try:
            while time.perf_counter() < deadline and budget[0] > 0:
                budget[0] -= 1
                op = rng.choices(names, weights)[0]
                started = time.perf_counter()
                try:
                    ack = await OPS[op](conn, world, lane, rng)
                except (HTTPError, OSError, TimeoutError, asyncio.IncompleteReadError, KeyError,
                        ValueError) as exc:
                    tally.fail(op, exc)
                    await conn.close()
                    continue
                tally.record(op, time.perf_counter() - started)
                if ack is not None:
                    tally.acks.append(ack)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*[client(i) for i in range(clients)])
    tally.seconds = time.perf_counter() - started
    return tally


async def unloaded(world: World, mix: dict[str, int], samples: int) -> Tally:
    """Each operation alone, one request at a time: the latency baseline."""
    tally = Tally()
    rng = random.Random(7)
    conn = Connection(world.port)
    try:
        for op in (n for n in mix if mix[n] > 0):
            for _ in range(samples):
                started = time.perf_counter()
                try:
                    ack = await OPS[op](conn, world, world.lanes[0], rng)
                except (HTTPError, OSError, KeyError, ValueError) as exc:
                    tally.fail(op, exc)
                    await conn.close()
                    continue
                tally.record(op, time.perf_counter() - started)
                if ack is not None:
                    tally.acks.append(ack)
    finally:
        await conn.close()
    return tally


# ---------------------------------------------------------------------------------------------
# Processes: the database, the seed, the witnesses, the servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pg_url(base: str, database: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{database}", query=""))


async def pg_admin(base: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_url(base, "postgres"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def cli(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([PYTHON, "-m", "heartchain.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"heartchain {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done


async def operator_token(env: dict[str, str]) -> str:
    """A fresh operator token, issued in-process (tokens are off the log)."""
    from tortoise import Tortoise

    from heartchain.accounts.services import issue_token, operator
    from heartchain.db import init_db
    from heartchain.platform import build_platform
    from heartchain.settings import Settings

    settings = Settings.from_env(env)
    platform = build_platform(settings)
    await init_db(settings.database_url, create_schema=False)
    try:
        return await issue_token(platform, (await operator(platform)).address, "load test")
    finally:
        await Tortoise.close_connections()


def start_witnesses(env: dict[str, str], data_dir: Path) -> tuple[list[subprocess.Popen[bytes]],
                                                                   str]:
    from heartchain.platform import load_log_signer
    from heartchain.settings import Settings
    from heartchain.witness.config import init_witness

    log_key = load_log_signer(Settings.from_env(env)).verifier_key
    processes, policy = [], []
    for label, name in WITNESSES:
        directory = data_dir / "witnesses" / label  # where `heartchain demo` made them
        config = init_witness(directory, name, [log_key])
        port = free_port()
        processes.append(subprocess.Popen(
            [PYTHON, "-m", "heartchain.witness.cli", "serve", "--dir", str(directory), "--port",
             str(port), "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL))
        policy.append(f"{label}=http://127.0.0.1:{port}|{config.signer().verifier_key}")
    return processes, ",".join(policy)


class Service:
    """`heartchain serve --workers N` on a free port."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [PYTHON, "-m", "heartchain.cli", "serve", "--port", str(self.port), "--workers",
             str(workers), "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)

    async def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        conn = Connection(self.port, timeout=5)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"server exited: {error[-2000:]}")
            try:
                await conn.get("/healthz")
                await conn.close()
                return
            except (OSError, HTTPError, asyncio.IncompleteReadError):
                await conn.close()
                await asyncio.sleep(0.2)
        raise RuntimeError("server did not start in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of a process and its children (uvicorn workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree, total = {root}, 0.0
    for _ in range(3):
        tree |= {pid for pid, (ppid, _) in stats.items() if ppid in tree}
    for pid in tree:
        total += stats.get(pid, (0, 0.0))[1]
    return total


def cpu_of_command(name: str) -> float:
    """CPU seconds of every process whose command is `name` (PostgreSQL: all its backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm, rest = (entry / "stat").read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, ValueError):
            continue
        if comm == name:
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, float(sum(values))


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


# ---------------------------------------------------------------------------------------------
# Setup and checks over HTTP


async def setup_world(port: int, token: str, clients: int, members: int) -> tuple[World,
                                                                                   list[Ack]]:
    conns = [Connection(port) for _ in range(8)]
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for c in conns:
        pool.put_nowait(c)

    async def call(query: str, variables: dict[str, Any], who: str) -> dict[str, Any]:
        conn = await pool.get()
        try:
            return await conn.gql(query, variables, who)
        finally:
            pool.put_nowait(conn)

    async def register(role: str, label: str | None = None) -> Party:
        result = result_of(await call(REGISTER, {"role": role, "label": label}, token),
                           "registerAccount", "AccountRegistered")
        return Party(result["account"]["address"], result["token"])

    acks: list[Ack] = []
    charity = await register("charity", "Load Test Food Bank 压测食物银行")
    partner = await register("partner", "Load Test Partner 压测伙伴")
    people = await asyncio.gather(*[register("member")
                                    for i in range(members + 2 * clients)])
    the_members, custodians = list(people[:members]), list(people[members:])
    for granted in await asyncio.gather(*[call(CONSENT, {"partner": partner.address}, m.token)
                                          for m in the_members]):
        acks.append(_ack("setup", result_of(granted, "grantConsent", "ConsentGranted")["entry"]))

    async def lane(i: int) -> Lane:
        first, second = custodians[2 * i], custodians[2 * i + 1]
        created = result_of(await call(CREATE_LOT, {"input": {
            "goods": "rice 大米", "quantity": 500_000, "unit": "grams",
            "custodian": first.address, "receipt": secrets.token_hex(32)}}, charity.token),
            "createLot", "LotChanged")
        acks.append(_ack("setup", created["entry"]))
        return Lane(created["lot"]["id"], (first, second))

    lanes = list(await asyncio.gather(*[lane(i) for i in range(clients)]))
    size = json.loads(await conns[0].get("/healthz"))["size"]
    for c in conns:
        await c.close()
    return World(port, charity, partner, the_members, lanes, size), acks


async def check_acknowledged(port: int, acks: list[Ack]) -> tuple[int, int]:
    """Read every acknowledged entry back through /log/tile/entries; return (size, checked)."""
    conn = Connection(port)
    try:
        size = json.loads(await conn.get("/healthz"))["size"]
        wanted: dict[int, list[Ack]] = {}
        for ack in acks:
            wanted.setdefault(ack.index // TILE_WIDTH, []).append(ack)
        if len({a.index for a in acks}) != len(acks):
            raise RuntimeError("two acknowledged writes were given the same index")
        for bundle, in_bundle in sorted(wanted.items()):
            width = min(TILE_WIDTH, size - bundle * TILE_WIDTH)
            path = f"/log/tile/entries/{_tile_index(bundle)}"
            if width < TILE_WIDTH:
                path += f".p/{width}"
            leaves = decode_entry_bundle(await conn.get(path))
            for ack in in_bundle:
                offset = ack.index % TILE_WIDTH
                if offset >= len(leaves) or merkle.leaf_hash(leaves[offset]) != ack.leaf_hash:
                    raise RuntimeError(f"acknowledged {ack.op} at index {ack.index} is missing "
                                       f"or different in the stored log")
        return size, len(acks)
    finally:
        await conn.close()


async def integration_stats(port: int, workers: int) -> dict[str, float]:
    """Batches, entries per batch and seconds per integration, summed over the workers' /metrics
    (each worker keeps its own counters: fresh connections land on different workers)."""
    seen: dict[tuple[float, float], tuple[float, float]] = {}
    for _ in range(8 * workers):
        conn = Connection(port)
        try:
            text = (await conn.get("/metrics")).decode()
        except (HTTPError, OSError):
            return {}
        finally:
            await conn.close()
        values = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in ("heartchain_batch_entries_sum", "heartchain_batch_entries_count",
                        "heartchain_integration_seconds_sum"):
                values[name] = float(value)
        key = (values.get("heartchain_batch_entries_count", 0.0),
               values.get("heartchain_batch_entries_sum", 0.0))
        seen[key] = (key[0], values.get("heartchain_integration_seconds_sum", 0.0))
        if len(seen) == workers:
            break
    batches = sum(k[0] for k in seen)
    entries = sum(k[1] for k in seen)
    seconds = sum(v[1] for v in seen.values())
    return {"batches": batches, "entries_per_batch": entries / batches if batches else 0.0,
            "ms_per_batch": seconds / batches * 1000 if batches else 0.0,
            "workers_seen": float(len(seen))}


# ---------------------------------------------------------------------------------------------
# Figures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(tally: Tally) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for op in sorted(set(tally.latencies) | set(tally.errors)):
        values = tally.latencies.get(op, [])
        out[op] = {"count": len(values), "errors": tally.errors.get(op, 0),
                   "rate": len(values) / tally.seconds if tally.seconds else 0.0,
                   "p50_ms": percentile(values, 0.5) * 1000 if values else 0.0,
                   "p99_ms": percentile(values, 0.99) * 1000 if values else 0.0}
    return out


def print_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(title)
    print(f"  {'op':<11} {'count':>7} {'errors':>6} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for op, row in rows.items():
        rate = f"{row['rate']:>8.1f}" if row["rate"] else f"{'-':>8}"
        print(f"  {op:<11} {row['count']:>7.0f} {row['errors']:>6.0f} {rate} "
              f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}")


def figures_for(idle: dict[str, dict[str, float]], runs: list[tuple[int, Tally]]
                ) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    first_workers, first = runs[0]
    first_rows = summary(first)
    first_rate = first.total / first.seconds
    results.append(figure(f"total_{first_workers}w", first_rate, "req/s", STRAWBERRY_BASELINE,
                          "trivial strawberry query, 1 worker"))
    first_cpu = first.cpu.get("servers", 0.0) / first_rate * 1000
    if first_cpu:
        # What the servers spent per request: unlike req/s, it barely depends on what else
        # the machine is running. The baseline is the same 3,500 req/s in CPU terms.
        results.append(figure(f"server_cpu_per_request_{first_workers}w", first_cpu, "ms",
                              1000 / STRAWBERRY_BASELINE, "trivial strawberry query", False))
    for op, row in first_rows.items():
        if op in idle and row["count"]:
            results.append(figure(f"{op}_p50_{first_workers}w", row["p50_ms"], "ms",
                                  idle[op]["p50_ms"], "same op unloaded", False))
            results.append(figure(f"{op}_p99_{first_workers}w", row["p99_ms"], "ms",
                                  idle[op]["p99_ms"], "same op unloaded", False))
    for workers, tally in runs[1:]:
        rows = summary(tally)
        rate = tally.total / tally.seconds
        results.append(figure(f"total_{workers}w", rate, "req/s", first_rate,
                              f"total_{first_workers}w"))
        cpu = tally.cpu.get("servers", 0.0) / rate * 1000
        if cpu and first_cpu:
            results.append(figure(f"server_cpu_per_request_{workers}w", cpu, "ms", first_cpu,
                                  f"{first_workers}w", False))
        writes = sum(rows[op]["count"] for op in WRITES if op in rows) / tally.seconds
        first_writes = sum(first_rows[op]["count"] for op in WRITES
                           if op in first_rows) / first.seconds
        results.append(figure(f"writes_{workers}w", writes, "writes/s", first_writes,
                              f"writes_{first_workers}w"))
        for op, row in rows.items():
            if op in first_rows and row["count"] and first_rows[op]["count"]:
                results.append(figure(f"{op}_{workers}w", row["rate"], "ops/s",
                                      first_rows[op]["rate"], f"{first_workers}w"))
                results.append(figure(f"{op}_p50_{workers}w", row["p50_ms"], "ms",
                                      first_rows[op]["p50_ms"], f"{first_workers}w", False))
                results.append(figure(f"{op}_p99_{workers}w", row["p99_ms"], "ms",
                                      first_rows[op]["p99_ms"], f"{first_workers}w", False))
    return results


# ---------------------------------------------------------------------------------------------


def parse_mix(text: str | None) -> dict[str, int]:
    if not text:
        return dict(MIX)
    mix = {name: 0 for name in MIX}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in MIX:
            raise SystemExit(f"--mix: unknown operation {name!r}; one of {', '.join(MIX)}")
        mix[name] = int(weight)
    return mix


def log(args: argparse.Namespace, message: str) -> None:
    print(message, file=sys.stderr if args.json else sys.stdout, flush=True)


async def main_async(args: argparse.Namespace) -> int:
    mix = parse_mix(args.mix)
    workers = [int(w) for w in args.workers.split(",")]
    database = f"hc_load_{secrets.token_hex(5)}"
    data_dir = Path(tempfile.mkdtemp(prefix="hc-load-"))
    db_url = pg_url(args.postgres, database)
    env = dict(os.environ)
    # The load comes from one address and a few tokens: measure the service, not the limiter.
    env.update({"HEARTCHAIN_DATA_DIR": str(data_dir / "data"), "HEARTCHAIN_DB_URL": db_url,
                "HEARTCHAIN_RATE_LIMIT": "0"})
    env.pop("HEARTCHAIN_WITNESSES", None)
    await pg_admin(args.postgres, f'CREATE DATABASE "{database}"')
    witnesses: list[subprocess.Popen[bytes]] = []
    service: Service | None = None
    started = time.perf_counter()
    try:
        t0 = time.perf_counter()
        cli(env, "demo" if args.seed == "demo" else "init")
        seed_seconds = time.perf_counter() - t0
        token = await operator_token(env)
        witnesses, policy = start_witnesses(env, data_dir / "data")
        env["HEARTCHAIN_WITNESSES"] = policy
        log(args, f"database {database}; seeded ({args.seed}) in {seed_seconds:.0f} s; "
                  f"witnesses up; {args.clients} clients, mix {mix}")

        runs: list[tuple[int, Tally]] = []
        acks: list[Ack] = []
        idle: dict[str, dict[str, float]] = {}
        world: World | None = None
        for n in workers:
            service = Service(env, n)
            await service.wait()
            if world is None:
                world, setup_acks = await setup_world(service.port, token, args.clients,
                                                      args.members)
                acks.extend(setup_acks)
                baseline = await unloaded(world, mix, args.samples)
                acks.extend(baseline.acks)
                idle = summary(baseline)
                if not args.json:
                    print_table(f"unloaded (1 request at a time, {args.samples} each):", idle)
            world.port = service.port
            probe = Connection(service.port)
            world.size = json.loads(await probe.get("/healthz"))["size"]
            await probe.close()
            before = (cpu_seconds(service.process.pid),
                      sum(cpu_seconds(w.pid) for w in witnesses), time.process_time(),
                      machine_busy(), cpu_of_command("postgres"))
            tally = await run_clients(world, mix, args.clients, args.seconds, args.requests,
                                      seed=n)
            busy, total = machine_busy()
            tally.cpu = {
                "servers": (cpu_seconds(service.process.pid) - before[0]) / tally.seconds,
                "witnesses": (sum(cpu_seconds(w.pid) for w in witnesses) - before[1])
                / tally.seconds,
                "generator": (time.process_time() - before[2]) / tally.seconds,
                # Backends that exit during the run take their CPU time with them: a floor.
                "postgres": max(0.0, cpu_of_command("postgres") - before[4]) / tally.seconds,
                "machine": (busy - before[3][0]) / (total - before[3][1])
                * (os.cpu_count() or 1)}
            tally.integration = await integration_stats(service.port, n)
            acks.extend(tally.acks)
            runs.append((n, tally))
            if not args.json:
                print_table(f"{n} worker(s), {args.clients} clients, {tally.seconds:.1f} s: "
                            f"{tally.total / tally.seconds:.1f} req/s", summary(tally))
                print("  cores busy: " + ", ".join(f"{k} {v:.2f}" for k, v in tally.cpu.items())
                      + f" (of {os.cpu_count()})")
                if tally.integration:
                    i = tally.integration
                    print(f"  integration (this server since start): {i['batches']:.0f} "
                          f"batches, {i['entries_per_batch']:.1f} entries and "
                          f"{i['ms_per_batch']:.1f} ms each ({i['workers_seen']:.0f} "
                          f"worker(s) seen)")
                for message in tally.messages:
                    print(f"    error: {message}")
            if n == workers[-1]:
                size, checked = await check_acknowledged(service.port, acks)
            service.stop()
            service = None
        stop_all(witnesses)
        witnesses = []
        t0 = time.perf_counter()
        verify = subprocess.run([PYTHON, "-m", "heartchain.cli", "verify"], env=env,
                                capture_output=True, text=True, timeout=1800, check=False)
        verify_seconds = time.perf_counter() - t0
        verified = verify.stdout.strip().splitlines()
        log(args, f"every acknowledged write present: {checked} checked against the stored "
                  f"log of {size}")
        if verify.returncode == 0:
            log(args, f"heartchain verify passed in {verify_seconds:.0f} s: "
                      f"{verified[0] if verified else ''}")
        else:
            log(args, f"heartchain verify FAILED:\n{verify.stderr[-3000:]}")
        results = figures_for(idle, runs)
        errors = sum(sum(t.errors.values()) for _, t in runs)
        report("load", f"load: heartchain serve --workers {args.workers} on PostgreSQL, 2 "
                       f"witnesses, {args.clients} clients, {os.cpu_count()} cores "
                       f"(total {time.perf_counter() - started:.0f} s)", results,
               as_json=args.json, clients=args.clients, seed=args.seed, cores=os.cpu_count(),
               phases={str(n): summary(t) for n, t in runs}, unloaded=idle,
               cores_busy={str(n): {k: round(v, 2) for k, v in t.cpu.items()} for n, t in runs},
               integration={str(n): t.integration for n, t in runs},
               acknowledged_checked=checked, log_size=size, errors=errors,
               verify_seconds=round(verify_seconds, 1), verify_passed=verify.returncode == 0)
        return 0 if verify.returncode == 0 and not errors else 1
    finally:
        if service is not None:
            service.stop()
        stop_all(witnesses)
        if args.keep:
            log(args, f"kept database {database} and data dir {data_dir}")
        else:
            await pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="per worker count")
    parser.add_argument("--requests", type=int, default=100_000, help="per worker count")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--workers", default="1,2", help="worker counts to run, in order")
    parser.add_argument("--samples", type=int, default=15, help="unloaded samples per op")
    parser.add_argument("--mix", help="e.g. donation=20,handover=10,proof=15 (others 0)")
    parser.add_argument("--seed", choices=["demo", "light"], default="demo")
    parser.add_argument("--postgres", default=os.environ.get(
        "HEARTCHAIN_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--keep", action="store_true", help="keep the database and data dir")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
