"""The log's side in-process: submitting, coalescing, the policy, refusals, what is served."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from heartchain.app import create_app
from heartchain.ledger import merkle
from heartchain.ledger.notes import CosignatureVerifier, Note, NoteVerifier, open_note
from heartchain.ledger.store import execute, fetch
from heartchain.ledger.verify import verify_log
from heartchain.ledger.witness_client import WitnessClient, attach
from heartchain.ledger.witness_policy import WitnessPolicy
from heartchain.platform import build_platform
from heartchain.witness.config import init_witness
from heartchain.witness.models import WitnessCosignature, WitnessRefusal
from heartchain.witness.server import create_app as create_witness_app
from heartchain.witness.store import WitnessStore
from tests.conftest import Ledger, gql
from tests.factories import self_registration
from tests.witness.factories import rederive_tiles

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Setup:
    ledger: Ledger
    client: WitnessClient
    app: httpx.AsyncClient  # the log's HTTP app
    witnesses: dict[str, httpx.AsyncClient]  # name -> that witness's own HTTP app
    verifiers: dict[str, CosignatureVerifier]
    requests: list[tuple[str, bytes]]  # (witness host, body) of every request sent
    mounts: dict[str, httpx.AsyncBaseTransport]  # "http://<host>" -> that witness's transport


async def make_setup(ledger: Ledger, tmp_path: Path, *, required: int | None = None,
                     down: tuple[str, ...] = ()) -> AsyncIterator[Setup]:
    mounts: dict[str, httpx.AsyncBaseTransport] = {}
    apps: dict[str, httpx.AsyncClient] = {}
    verifiers: dict[str, CosignatureVerifier] = {}
    stores = []
    items = []
    for host in ("w1", "w2"):
        config = init_witness(tmp_path / host, f"witness.test/{host}",
                              [ledger.platform.verifier_key])
        store = WitnessStore(config.database)
        stores.append(store)
        transport = httpx.ASGITransport(app=create_witness_app(config, store=store))
        if host not in down:
            mounts[f"http://{host}"] = transport
        apps[config.name] = httpx.AsyncClient(transport=transport, base_url=f"http://{host}")
        verifiers[config.name] = config.signer().verifier
        items.append(f"{host}=http://{host}|{verifiers[config.name].verifier_key}")
    policy = WitnessPolicy.parse(",".join(items), None if required is None else str(required))
    requests: list[tuple[str, bytes]] = []

    async def count(request: httpx.Request) -> None:
        requests.append((request.url.host, request.content))

    http = httpx.AsyncClient(mounts=mounts, event_hooks={"request": [count]},
                             transport=_Unreachable())
    client = attach(ledger.platform, policy, http=http)
    app = create_app(ledger.settings)
    app.state.platform = ledger.platform
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://log") as log_http:
            yield Setup(ledger, client, log_http, apps, verifiers, requests, mounts)
    finally:
        await client.aclose()
        await http.aclose()
        for witness_http in apps.values():
            await witness_http.aclose()
        for store in stores:
            store.close()


class _Unreachable(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"connection refused: {request.url.host}", request=request)


@pytest.fixture
async def setup(ledger: Ledger, tmp_path: Path) -> AsyncIterator[Setup]:
    async for value in make_setup(ledger, tmp_path):
        yield value


async def write(setup: Setup, count: int = 1) -> None:
    for _ in range(count):
        await setup.ledger.platform.log.append(self_registration(setup.ledger))
    await setup.client.wait_idle()


def check_served(setup: Setup, note: str, size: int, witnesses: int) -> None:
    log_verifier = NoteVerifier.from_verifier_key(setup.ledger.platform.verifier_key)
    opened = open_note(note, [log_verifier])
    assert opened.text.split("\n")[1] == str(size)
    cosigned = [s for s in Note.from_text(note).signatures if s.name in setup.verifiers]
    assert len(cosigned) == witnesses
    for sig in cosigned:
        setup.verifiers[sig.name].verify(opened.text, sig)


async def test_checkpoints_are_cosigned_and_served(setup: Setup) -> None:
    await setup.client.submit_latest()
    await setup.client.wait_idle()
    await write(setup, 3)
    size = await setup.ledger.platform.log.size()
    assert size == 4
    rows = await WitnessCosignature.filter(size=size)
    assert sorted(r.witness for r in rows) == sorted(setup.verifiers)
    response = await setup.app.get("/log/checkpoint")
    check_served(setup, response.text, size, 2)
    assert response.headers["heartchain-witness-policy"] == "met"
    for name, witness in setup.witnesses.items():
        logs = (await witness.get("/logs")).json()["logs"]
        assert logs[0]["size"] == size, name
    report = (await setup.app.get("/log/witnesses")).json()
    assert report["policy"] == "2 of 2" and report["witnessed_size"] == size
    assert [w["cosigned_size"] for w in report["witnesses"]] == [size, size]
    assert report["refusals"] == []
    metrics = (await setup.app.get("/metrics")).text
    for name in setup.verifiers:
        assert f'heartchain_witness_cosigned_size{{witness="{name}"}} {float(size)}' in metrics
        assert f'heartchain_witness_cosign_lag_seconds{{witness="{name}"}}' in metrics
    await verify_log(setup.ledger.platform.log)


async def test_piled_up_checkpoints_are_coalesced(setup: Setup) -> None:
    log = setup.ledger.platform.log
    for _ in range(30):
        await log.append_now([self_registration(setup.ledger)])  # one checkpoint each
    await setup.client.wait_idle()
    size = await log.size()
    assert {r.witness for r in await WitnessCosignature.filter(size=size)} == set(setup.verifiers)
    # Thirty checkpoints offered while a worker is away: only the newest is sent.
    piled = [await log.checkpoint_at(s) for s in range(size - 29, size + 1)]
    fresh = WitnessClient(log, setup.client.policy, seal=setup.client.seal,
                          http=setup.client._http)
    before = len(setup.requests)
    for signed in piled:
        fresh.offer(signed)
    await fresh.wait_idle()
    await fresh.aclose()
    sent = setup.requests[before:]
    assert sorted(host for host, _ in sent) == ["w1", "w2"]
    assert all(body.startswith(f"old {size}\n\n".encode()) and piled[-1].note.encode() in body
               for _, body in sent)


async def test_witnesses_in_step_share_one_consistency_proof(
        setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both witnesses cosigned the same size: the proof to each next checkpoint is read from
    the tiles once, and each witness gets it (and cosigns, so it was the right one)."""
    await write(setup, 3)
    log = setup.ledger.platform.log
    made: list[tuple[int, int]] = []
    real = log.consistency_proof

    async def counted(size1: int, size2: int, **kwargs: bool) -> list[bytes]:
        made.append((size1, size2))
        return await real(size1, size2, **kwargs)

    monkeypatch.setattr(log, "consistency_proof", counted)
    old = await log.size()
    before = len(setup.requests)
    await write(setup, 2)
    size = await log.size()
    assert made and made[0][0] == old and made[-1][1] == size
    assert len(made) == len(set(made))  # each proof read once, for both witnesses
    sent = setup.requests[before:]
    assert sorted(host for host, _ in sent) == ["w1"] * len(made) + ["w2"] * len(made)
    assert len({body for _, body in sent}) == len(made)  # the same request to each
    assert {r.witness for r in await WitnessCosignature.filter(size=size)} == set(setup.verifiers)


async def test_graphql_shows_policy_cosignatures_and_refusals(setup: Setup) -> None:
    await write(setup, 2)
    result = await gql(setup.app, """{
      witnessPolicy { required total description witnesses { name label url verifierKey
                                                              cosignedSize } }
      witnessedCheckpoint { witnessed note checkpoint { size }
                            cosignatures { witness timestamp time line receivedAt } }
      cosignedCheckpoints(first: 1) { edges { node { checkpoint { size } witnessed } }
                                      pageInfo { hasNextPage endCursor } }
      witnessRefusals { edges { node { witness status } } }
    }""")
    assert "errors" not in result, result
    data = result["data"]
    size = await setup.ledger.platform.log.size()
    assert data["witnessPolicy"]["description"] == "2 of 2"
    assert [w["label"] for w in data["witnessPolicy"]["witnesses"]] == ["w1", "w2"]
    assert {w["cosignedSize"] for w in data["witnessPolicy"]["witnesses"]} == {size}
    witnessed = data["witnessedCheckpoint"]
    assert witnessed["witnessed"] and witnessed["checkpoint"]["size"] == size
    assert len(witnessed["cosignatures"]) == 2
    check_served(setup, witnessed["note"], size, 2)
    page = data["cosignedCheckpoints"]
    assert page["edges"][0]["node"]["checkpoint"]["size"] == size
    assert page["pageInfo"]["hasNextPage"]
    assert data["witnessRefusals"]["edges"] == []
    older = await gql(setup.app, """query($after: String) { cosignedCheckpoints(after: $after)
      { edges { node { checkpoint { size } } } } }""", {"after": page["pageInfo"]["endCursor"]})
    assert all(e["node"]["checkpoint"]["size"] < size
               for e in older["data"]["cosignedCheckpoints"]["edges"])


async def test_one_of_two_with_a_witness_down(ledger: Ledger, tmp_path: Path) -> None:
    async for setup in make_setup(ledger, tmp_path, required=1, down=("w2",)):
        await write(setup, 2)
        await write(setup, 2)
        size = await ledger.platform.log.size()
        check_served(setup, (await setup.app.get("/log/checkpoint")).text, size, 1)
        refusals = await WitnessRefusal.all()
        # The unreachable witness is recorded once, not once per checkpoint.
        assert [(r.witness, r.status) for r in refusals] == [("witness.test/w2", 0)]
        report = (await setup.app.get("/log/witnesses")).json()
        assert report["policy"] == "1 of 2" and report["witnessed_size"] == size


async def test_without_the_policy_the_latest_is_served_as_it_is(ledger: Ledger,
                                                                tmp_path: Path) -> None:
    async for setup in make_setup(ledger, tmp_path, down=("w2",)):
        await write(setup, 2)
        size = await ledger.platform.log.size()
        # w1 cosigned, but 2 of 2 are required: nothing is witnessed, the newest is served,
        # and the answer says that it does not meet the policy.
        response = await setup.app.get("/log/checkpoint")
        check_served(setup, response.text, size, 1)
        assert response.status_code == 200
        assert response.headers["heartchain-witness-policy"] == "unmet"
        result = await gql(setup.app, "{ witnessedCheckpoint { note } }")
        assert result["data"]["witnessedCheckpoint"] is None


async def test_with_no_witness_configured_the_header_says_none(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    response = await client.get("/log/checkpoint")
    assert response.status_code == 200
    assert response.headers["heartchain-witness-policy"] == "none"


async def test_a_stale_size_is_recovered_from_409(setup: Setup) -> None:
    await write(setup, 2)
    # The log loses its record of the cosignatures (a restore, another worker...).
    await WitnessCosignature.all().delete()
    setup.client._sizes.clear()
    await write(setup, 1)
    size = await setup.ledger.platform.log.size()
    assert {r.witness for r in await WitnessCosignature.filter(size=size)} == set(setup.verifiers)
    assert await WitnessRefusal.all().count() == 0


async def rewrite_entry(ledger: Ledger, index: int, data: bytes) -> None:
    """What a database administrator with the log's key could do: change an old entry and
    re-derive every tile and the head, so the log itself sees nothing wrong."""
    conn = ledger.platform.log._conn()
    rows = await fetch(conn, "SELECT idx, data FROM log_entry ORDER BY idx")
    leaves = [merkle.leaf_hash(data if int(r["idx"]) == index else bytes(r["data"]))
              for r in rows]
    await execute(conn, "UPDATE log_entry SET data = ?, leaf_hash = ? WHERE idx = ?",
                  [data, leaves[index], index])
    tile_data, root = rederive_tiles(leaves)
    await execute(conn, "DELETE FROM log_tile")
    for (level, node), value in tile_data.items():
        await execute(conn, "INSERT INTO log_tile (level, idx, data) VALUES (?, ?, ?)",
                      [level, node, value])
    await execute(conn, "UPDATE log_head SET root_hash = ? WHERE id = 1", [root])


async def test_a_rewritten_history_is_refused_by_both(setup: Setup) -> None:
    ledger = setup.ledger
    await write(setup, 3)
    honest = await ledger.platform.log.size()
    original = (await ledger.platform.log.get_entry(1)).data
    await rewrite_entry(ledger, 1, original.replace(b'"member"', b'"partner"'))
    # The process restarts on the edited database and appends as usual.
    platform = build_platform(ledger.settings, clock=ledger.platform.clock)
    await setup.client.aclose()
    client = attach(platform, setup.client.policy, http=setup.client._http)
    try:
        await platform.log.append(self_registration(ledger))
        await client.wait_idle()
        refusals = await WitnessRefusal.all()
        assert sorted((r.witness, r.status, r.old_size) for r in refusals) == [
            (name, 422, honest) for name in sorted(setup.verifiers)]
        metrics = (await setup.app.get("/metrics")).text
        for name in setup.verifiers:
            assert f'heartchain_witness_refusals_total{{status="422",witness="{name}"}}' in metrics
        for witness in setup.witnesses.values():
            evidence = (await witness.get("/evidence")).json()["evidence"]
            assert [e["kind"] for e in evidence] == ["inconsistent"]
            cosigned = Note.from_text(evidence[0]["cosigned_note"]).text
            assert cosigned.split("\n")[1] == str(honest)
        # What the log serves stays the last checkpoint the witnesses vouched for.
        app = create_app(ledger.settings)
        app.state.platform = platform
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://log") as http:
            served = Note.from_text((await http.get("/log/checkpoint")).text)
            assert served.text.split("\n")[1] == str(honest)
            query = "{ witnessRefusals { edges { node { status oldSize size } } } }"
            edges = (await gql(http, query))["data"]["witnessRefusals"]["edges"]
            assert {e["node"]["status"] for e in edges} == {422}
            report = (await http.get("/log/witnesses")).json()
            assert report["witnessed_size"] == honest and report["latest_size"] == honest + 1
    finally:
        await client.aclose()


def test_policy_parsing() -> None:
    key = "witness.test/w1+0a1b2c3d+BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    with pytest.raises(Exception, match="key ID"):
        WitnessPolicy.parse(f"w1=http://a|{key}")
    from heartchain.ledger.notes import CosignatureSigner

    good = CosignatureSigner.generate("witness.test/w1").verifier_key
    other = CosignatureSigner.generate("witness.test/w2").verifier_key
    policy = WitnessPolicy.parse(f" w1=http://a:1|{good} ,\n w2=https://b/x/|{other}", "1")
    assert policy.description == "1 of 2"
    assert policy.witnesses[1].submit_url == "https://b/x/add-checkpoint"
    assert WitnessPolicy.parse(f"w1=http://a|{good}").required == 1
    assert WitnessPolicy.parse("").witnesses == ()
    for bad in (f"w1=ftp://a|{good}", "w1=http://a", f"=http://a|{good}"):
        with pytest.raises(ValueError):
            WitnessPolicy.parse(bad)
    for required in ("0", "3"):
        with pytest.raises(ValueError):
            WitnessPolicy.parse(f"w1=http://a|{good},w2=http://b|{other}", required)
    with pytest.raises(ValueError, match="share"):
        WitnessPolicy.parse(f"w1=http://a|{good},w2=http://b|{good}")


async def test_every_example_operation_runs(setup: Setup) -> None:
    await write(setup, 2)
    document = (ROOT / "graphql" / "operations" / "witness.graphql").read_text("utf-8")
    names = re.findall(r"^query (\w+)", document, re.MULTILINE)
    assert len(names) == 5
    for name in names:
        response = await setup.app.post("/graphql", json={"query": document,
                                                          "operationName": name})
        result = response.json()
        assert "errors" not in result, (name, result)
        assert all(value is not None for value in result["data"].values()), name
