"""Feed-server latency under concurrent clients on 127.0.0.1 (prints figures; not a test).

Serves an alert store (``--store``, default: ``artifacts/alerts`` of ``--root``; an empty
temporary store with published empty feeds when that does not exist) with the project's
Starlette + uvicorn server in a child process, fires ``--requests`` GETs with ``--concurrency``
keep-alive clients in flight, and prints p50 / p90 / p99 / max latency, throughput and the error
count. ``--client httpx`` uses httpx; the default ``raw`` client is a minimal asyncio HTTP/1.1
client, because httpx's own pool costs grow with the number of connections and would be measured
instead of the server.

    python benchmarks/bench_feed_server.py --requests 2000 --concurrency 200
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from gee_landslide.core.paths import project_paths
from gee_landslide.monitor.feeds import publish_feeds
from gee_landslide.ops.supervisor import free_port

SERVER_CODE = (
    "import sys\n"
    "from gee_landslide.monitor.server import make_server, run_until_interrupted\n"
    "run_until_interrupted(make_server(sys.argv[1], '127.0.0.1', int(sys.argv[2])))\n"
)

PATHS = ("/alerts.geojson", "/alerts.atom", "/", "/app.js", "/map.json")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


async def fire_raw(url: str, n: int, concurrency: int) -> tuple[list[float], list[str]]:
    """``concurrency`` keep-alive connections, each sending its share of GETs one after another."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors: list[str] = []

    async def worker(k: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i in range(k, n, concurrency):
                path = PATHS[i % len(PATHS)]
                t0 = time.perf_counter()
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                await writer.drain()
                status = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if not status.startswith(b"HTTP/1.1 200"):
                    errors.append(f"{status.decode().strip()} {path}")
        except (OSError, asyncio.IncompleteReadError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            writer.close()

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return latencies, errors


async def fire(url: str, n: int, concurrency: int) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def one(i: int) -> None:
            async with sem:
                t0 = time.perf_counter()
                try:
                    r = await client.get(PATHS[i % len(PATHS)])
                    if r.status_code != 200:
                        errors.append(f"HTTP {r.status_code} {PATHS[i % len(PATHS)]}")
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(one(i) for i in range(n)))
    return latencies, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=None)
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw")
    a = ap.parse_args()
    store = a.store or project_paths(a.root).alerts
    tmp = None
    if not (store / "alerts.geojson").exists():
        tmp = tempfile.TemporaryDirectory()
        store = Path(tmp.name) / "alerts"
        publish_feeds(store)
    port = free_port()
    # the server runs in its own process, as `gee-landslide feed serve` does: the client's work
    # must not share the server's interpreter lock
    proc = subprocess.Popen([sys.executable, "-c", SERVER_CODE, str(store), str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/map.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        t0 = time.perf_counter()
        client = fire_raw if a.client == "raw" else fire
        latencies, errors = asyncio.run(client(url, a.requests, a.concurrency))
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(10)
        if tmp is not None:
            tmp.cleanup()
    ms = sorted(v * 1000 for v in latencies)
    print(f"store {store}: {a.requests} GETs, {a.concurrency} in flight ({a.client} client), {wall:.2f} s, "
          f"{a.requests / wall:.0f} req/s")
    print(f"latency ms: p50 {percentile(ms, 50):.1f}  p90 {percentile(ms, 90):.1f}  "
          f"p99 {percentile(ms, 99):.1f}  max {ms[-1] if ms else float('nan'):.1f}  "
          f"mean {statistics.fmean(ms) if ms else float('nan'):.1f}")
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))


if __name__ == "__main__":
    main()
