"""Tile reads: nginx serving the static tiles directory, beside nginx serving a plain file of the
same size, and beside the app answering the same paths itself.

    python bench/tiles.py [--seconds 2] [--rounds 5] [--connections 32] [--json]

Needs Debian's `nginx` and `wrk` (`apt-get install nginx wrk`). It seeds a SQLite store with
`heartchain demo` (26,600 entries) and HEARTCHAIN_STATIC_TILES_DIR set, starts `heartchain serve`
and an nginx whose server block is the README's ("Static tiles behind nginx", read from README.md
so the measured configuration is the documented one), then runs wrk (1 thread) for each path,
--rounds times interleaved, and takes each one's median:

- hash tile `/log/tile/0/<N>` and entry bundle `/log/tile/entries/<N>` through that nginx;
- a plain file of exactly the same size from a bare nginx `location` (the baseline: what nginx
  does for any static file; the target is ≥ 0.9 of it);
- the same tile paths from the app directly (`heartchain serve`, one worker), for scale.

Every response is checked once beforehand: nginx's bytes equal the app's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from figures import figure, report
from load import PYTHON, cli, free_port

from heartchain.ledger.tiles import TILE_WIDTH, index_path

ROOT = Path(__file__).resolve().parents[1]
_REQUESTS = re.compile(r"Requests/sec:\s+([0-9.]+)")
_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*")


def readme_server_block() -> str:
    """The nginx configuration the README documents for static tiles."""
    text = (ROOT / "README.md").read_text("utf-8")
    part = text.split("### Static tiles behind nginx", 1)[1]
    found = re.search(r"```nginx\n(.*?)```", part, re.DOTALL)
    if found is None:
        raise SystemExit("README.md: no nginx block under 'Static tiles behind nginx'")
    return found.group(1)


def nginx_conf(workdir: Path, *, tiles_dir: Path, app_port: int, port: int, plain_dir: Path,
               plain_port: int) -> str:
    block = readme_server_block()
    for old, new in (("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
                     ("listen 80;", f"listen 127.0.0.1:{port};"),
                     ("root /var/lib/heartchain-tiles;", f"root {tiles_dir};")):
        if old not in block:
            raise SystemExit(f"README.md nginx block: expected {old!r}")
        block = block.replace(old, new)
    return f"""worker_processes 1;
pcre_jit on;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {workdir}/nginx-body;
    proxy_temp_path {workdir}/nginx-proxy;
    fastcgi_temp_path {workdir}/nginx-fastcgi;
    uwsgi_temp_path {workdir}/nginx-uwsgi;
    scgi_temp_path {workdir}/nginx-scgi;
{block}
    server {{
        listen 127.0.0.1:{plain_port};
        location / {{
            root {plain_dir};
            types {{ }}
            default_type application/octet-stream;
            open_file_cache max=10000 inactive=10m;  # as the README's tiles location has
            open_file_cache_valid 1h;
        }}
    }}
}}
"""


def wrk(url: str, seconds: int, connections: int) -> float:
    done = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
                          capture_output=True, text=True, check=True)
    errors = _ERRORS.search(done.stdout)
    if errors is not None:
        raise RuntimeError(f"wrk {url}: {errors.group(0)}\n{done.stdout}")
    found = _REQUESTS.search(done.stdout)
    if found is None:
        raise RuntimeError(f"wrk {url}: no rate in\n{done.stdout}")
    return float(found.group(1))


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in time")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


async def run(args: argparse.Namespace, workdir: Path) -> list[dict[str, object]]:
    data_dir, tiles_dir, plain_dir = workdir / "data", workdir / "tiles", workdir / "plain"
    env = {**os.environ, "HEARTCHAIN_DATA_DIR": str(data_dir),
           "HEARTCHAIN_STATIC_TILES_DIR": str(tiles_dir), "HEARTCHAIN_WITNESSES": ""}
    env.pop("HEARTCHAIN_DB_URL", None)
    cli(env, "demo")
    cli(env, "tiles", "publish")
    app_port, port, plain_port = free_port(), free_port(), free_port()
    app = subprocess.Popen([PYTHON, "-m", "heartchain.cli", "serve", "--port", str(app_port),
                            "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL)
    (workdir / "nginx.conf").write_text(nginx_conf(
        workdir, tiles_dir=tiles_dir, app_port=app_port, port=port, plain_dir=plain_dir,
        plain_port=plain_port))
    nginx = subprocess.Popen(["nginx", "-p", str(workdir), "-c", str(workdir / "nginx.conf")])
    try:
        wait_http(f"http://127.0.0.1:{app_port}/healthz", app)
        wait_http(f"http://127.0.0.1:{plain_port}/", nginx)
        size = int(httpx.get(f"http://127.0.0.1:{app_port}/log/checkpoint").text
                   .split("\n")[1])
        bundle = size // TILE_WIDTH // 2  # a full one from the middle of the log
        paths = {"hash tile": f"/log/tile/0/{index_path(bundle)}",
                 "entry bundle": f"/log/tile/entries/{index_path(bundle)}"}
        plain_dir.mkdir(mode=0o755)
        results: list[dict[str, object]] = []
        for what, path in paths.items():
            from_app = httpx.get(f"http://127.0.0.1:{app_port}{path}")
            from_nginx = httpx.get(f"http://127.0.0.1:{port}{path}")
            if from_app.status_code != 200 or from_app.content != from_nginx.content:
                raise RuntimeError(f"{path}: nginx and the app disagree")
            if "immutable" not in from_nginx.headers.get("cache-control", ""):
                raise RuntimeError(f"{path}: nginx did not serve it from the tiles directory")
            plain = f"same-size-{what.replace(' ', '-')}"
            (plain_dir / plain).write_bytes(os.urandom(len(from_nginx.content)))
            (plain_dir / plain).chmod(0o644)
            urls = {"plain": f"http://127.0.0.1:{plain_port}/{plain}",
                    "nginx": f"http://127.0.0.1:{port}{path}",
                    "app": f"http://127.0.0.1:{app_port}{path}"}
            # Interleaved rounds, median of each: on a shared machine a single run of one
            # beside a single run of the other mostly measures what else was running.
            samples: dict[str, list[float]] = {name: [] for name in urls}
            for _ in range(args.rounds):
                for name, url in urls.items():
                    samples[name].append(wrk(url, args.seconds, args.connections))
            rates = {name: statistics.median(values) for name, values in samples.items()}
            baseline = f"nginx, plain {len(from_nginx.content)} B file"
            results.append(figure(f"{what}, nginx", rates["nginx"], "reads/s", rates["plain"],
                                  baseline))
            results.append(figure(f"{what}, app itself", rates["app"], "reads/s",
                                  rates["plain"], baseline))
        return results
    finally:
        stop(nginx)
        stop(app)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: apt-get install nginx wrk")
    with tempfile.TemporaryDirectory(prefix="hc-tiles-") as tmp:
        os.chmod(tmp, 0o755)  # nginx's workers (www-data) must reach the two file trees
        results = asyncio.run(run(args, Path(tmp)))
    report("tiles", "Tile reads (wrk, 1 thread; nginx 1 worker; app 1 worker)", results,
           as_json=args.json, seconds=args.seconds, rounds=args.rounds,
           connections=args.connections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
