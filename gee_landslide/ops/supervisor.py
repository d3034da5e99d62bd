"""Running the project's Prefect stack locally: server, deployment process, feed server.

``make serve`` / ``gee-landslide orchestrate up`` starts a Prefect server whose SQLite database
lives under ``artifacts/prefect/`` and the process that serves the project's deployments
(``flows/serve.py``); ``make stop`` stops them by the process ids recorded in
``artifacts/prefect/*.pid``. Everything here is plain Python so the end-to-end test drives the
same code a user does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import gee_landslide
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.paths import ProjectPaths
from gee_landslide.ops.processes import pid_alive, pid_file_owner

DEFAULT_PORT = 4200
DEFAULT_FEED_PORT = 8080
SERVICES = ("server", "serve", "feed")


@dataclass(frozen=True)
class Orchestra:
    """Where the local Prefect stack keeps its database, logs and pid files."""

    paths: ProjectPaths
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"

    @property
    def home(self) -> Path:
        return self.paths.artifacts / "prefect"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    def pid_file(self, service: str) -> Path:
        return self.home / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return self.home / f"{service}.log"

    def env(self) -> dict[str, str]:
        """Environment for every process of the stack (and for clients of it).

        The directory this package was imported from goes first on ``PYTHONPATH``: the server's
        children (the serve process, and each flow run it starts) then import the same
        ``gee_landslide`` and ``flows`` as the process that started them, not whichever copy
        happens to be installed in the virtualenv.
        """
        env = dict(os.environ)
        code_root = str(Path(gee_landslide.__file__).resolve().parents[1])
        python_path = [code_root, *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != code_root)]
        env.update(
            PYTHONPATH=os.pathsep.join(python_path),
            PREFECT_HOME=str(self.home),
            PREFECT_API_URL=self.api_url,
            PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{self.home / 'prefect.db'}",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            DO_NOT_TRACK="1",
            HF_HUB_OFFLINE="1",
            GEE_LANDSLIDE_ROOT=str(self.paths.root),
            PYTHONUNBUFFERED="1",
        )
        return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def read_pid(orch: Orchestra, service: str) -> int | None:
    return pid_file_owner(orch.pid_file(service))


def _spawn(orch: Orchestra, service: str, argv: list[str]) -> int:
    orch.home.mkdir(parents=True, exist_ok=True)
    log = open(orch.log_file(service), "ab")  # noqa: SIM115  (handed to the child)
    proc = subprocess.Popen(
        argv, cwd=orch.paths.root, env=orch.env(), stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    orch.pid_file(service).write_text(f"{proc.pid}\n")
    return proc.pid


def api_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """True when the Prefect API at ``api_url`` answers its health check."""
    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def server_healthy(orch: Orchestra, timeout: float = 2.0) -> bool:
    return api_healthy(orch.api_url, timeout)


def wait_until_healthy(api_url: str, timeout: float | None = None, poll: float = 1.0) -> bool:
    """Wait for the Prefect API to answer (``timeout=None``: as long as it takes).

    A server restarted on a loaded 2-core machine can take over a minute to report healthy, so
    callers poll its health endpoint rather than sleeping for a fixed time.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while not api_healthy(api_url):
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


RUNNER_QUERY_SECONDS = 2.0  # how often the deployment process looks for runs to start (Prefect: 10 s)


def serve_forever(build: Callable[[], list[Any]], limit: int = 2, api_url: str | None = None,
                  poll: float = 2.0, query_seconds: float = RUNNER_QUERY_SECONDS) -> None:
    """Serve the deployments ``build()`` returns, and serve them afresh after a Prefect API outage.

    Prefect's runner stops polling after three failed polls in a row (``critical_service_loop``):
    after a restart of the Prefect server (tens of seconds on a loaded machine) it either exits
    or, when its cancellation observer is the loop that gives up, hangs without polling, and
    the schedules stop firing. So a watchdog thread checks the API's health; once the API is
    back after an outage it re-executes this process (same pid, same process group: ``stop``
    still finds it), which rebuilds the deployments from the catalog and serves them again.
    Prefect upserts deployments and schedules by name, so this creates no duplicates. Runs
    already started keep going (they report to the API themselves).

    ``query_seconds`` is how often the runner asks the API for runs to start. Prefect's default
    (10 s) left each demo step waiting 5-13 s for the runner to notice it (about 40 s idle over the
    demo's six steps, seen in ``serve.log``); a poll is one small query.

    SIGTERM / Ctrl-C end the process as before. Schedules are not paused on shutdown: they
    belong to the catalog, and the runs a stop leaves late are handled by the monitor flow
    (:func:`gee_landslide.ops.scheduling.superseding_run`).
    """
    import threading

    from prefect import serve
    from prefect.settings import PREFECT_API_URL

    url = api_url or PREFECT_API_URL.value()
    if url:
        wait_until_healthy(url, poll=poll)
        threading.Thread(target=_reexec_after_outage, args=(url, poll), daemon=True,
                         name="api-watchdog").start()
    try:
        serve(*build(), limit=limit, pause_on_shutdown=False, query_seconds=query_seconds)
    except Exception as exc:  # the runner gave up (API gone): serve afresh once it is back
        print(f"serving stopped ({type(exc).__name__}: {exc}); serving again once the API is healthy",
              flush=True)
        if url:
            wait_until_healthy(url, poll=poll)
        print("Prefect API is healthy: restarting the runner", flush=True)
        _reexec()


def _reexec_after_outage(api_url: str, poll: float, outage_checks: int = 2) -> None:
    failures = 0
    while True:
        time.sleep(poll)
        if api_healthy(api_url, timeout=5.0):
            if failures >= outage_checks:
                print("Prefect API is back after an outage: restarting the runner", flush=True)
                _reexec()
            failures = 0
        else:
            failures += 1
            if failures == outage_checks:
                print(f"Prefect API unreachable at {api_url}; waiting for it", flush=True)


def _reexec() -> None:
    """Replace this process by a fresh copy of itself (same pid, same arguments)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


class PortInUseError(GeeLandslideError, RuntimeError):
    """The Prefect port already serves an API that this project did not start."""


def start_server(orch: Orchestra, timeout: float = 90.0) -> int:
    """Start ``prefect server start`` (or reuse this project's running one) and wait until it is healthy.

    Why the check for a foreign server: a second clone's ``make demo`` used to find the first
    clone's server healthy on port 4200, register its deployments there and have the first
    clone's deployment process run them, in the first clone's directory (seen: a "sweep" that
    finished in 14 s, having trained nothing).
    """
    pid = read_pid(orch, "server")
    if pid and server_healthy(orch):
        return pid
    if server_healthy(orch):
        raise PortInUseError(
            f"port {orch.port} already serves a Prefect API that this project ({orch.paths.root}) did not start "
            f"(another clone's `make demo` or `make serve`?); its deployments would run there, not here",
            field="port", value=orch.port,
            hint="stop it (`make stop` in that clone) or pick another port: gee-landslide demo --port 4300",
        )
    prefect = str(Path(sys.executable).with_name("prefect"))
    pid = _spawn(orch, "server", [prefect, "server", "start", "--host", orch.host, "--port", str(orch.port)])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server_healthy(orch):
            return pid
        if not pid_alive(pid):
            raise RuntimeError(f"the Prefect server exited; see {orch.log_file('server')}")
        time.sleep(0.5)
    raise TimeoutError(f"the Prefect server did not become healthy in {timeout:.0f} s; see {orch.log_file('server')}")


def start_serve(orch: Orchestra) -> int:
    """Start the process that serves the deployments (``python -m flows.serve``)."""
    pid = read_pid(orch, "serve")
    if pid:
        return pid
    return _spawn(orch, "serve", [sys.executable, "-m", "flows.serve"])


def start_feed(orch: Orchestra, port: int = DEFAULT_FEED_PORT) -> int:
    pid = read_pid(orch, "feed")
    if pid:
        return pid
    exe = str(Path(sys.executable).with_name("gee-landslide"))
    return _spawn(orch, "feed", [exe, "feed", "serve", "--port", str(port), "--root", str(orch.paths.root)])


def wait_for_deployments(orch: Orchestra, names: list[str], timeout: float = 120.0) -> None:
    """Wait until the serve process has registered every deployment ``flow/deployment`` name."""
    deadline = time.monotonic() + timeout
    missing = list(names)
    while time.monotonic() < deadline:
        missing = [n for n in names if not _deployment_exists(orch, n)]
        if not missing:
            return
        pid = read_pid(orch, "serve")
        if pid is None:
            raise RuntimeError(f"the serve process is not running; see {orch.log_file('serve')}")
        time.sleep(1.0)
    raise TimeoutError(f"deployments {missing} not registered after {timeout:.0f} s; see {orch.log_file('serve')}")


def _deployment_exists(orch: Orchestra, name: str) -> bool:
    flow, dep = name.split("/", 1)
    try:
        r = httpx.get(f"{orch.api_url}/deployments/name/{flow}/{dep}", timeout=5.0)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def stop(orch: Orchestra, services: tuple[str, ...] = SERVICES, grace: float = 10.0) -> dict[str, int | None]:
    """Stop what :func:`start_server` / :func:`start_serve` / :func:`start_feed` started, by pid."""
    stopped: dict[str, int | None] = {}
    for service in services:
        pid = read_pid(orch, service)
        stopped[service] = pid
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5.0
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
        orch.pid_file(service).unlink(missing_ok=True)
    return stopped


def status(orch: Orchestra) -> dict[str, int | None]:
    return {s: read_pid(orch, s) for s in SERVICES}
