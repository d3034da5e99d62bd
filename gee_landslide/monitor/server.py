"""The read-only HTTP server for the alert feeds and the web map (Starlette app, uvicorn server).

``serve(store_dir, host, port)`` serves, from the store directory:

- ``/`` (``index.html``), ``/app.js``, ``/style.css``: the web map (package ``monitor/web``);
- ``/map.json``: what the map draws under the alerts (the offline hillshade basemaps of the
  regions, or the XYZ tile URL of ``$GEE_LANDSLIDE_TILE_URL``);
- ``/alerts.geojson``, ``/alerts.atom``, ``/regions/<region>.geojson|atom``: the feeds. Their links
  point at the URL the request reached, unless a public base URL is configured
  (``$GEE_LANDSLIDE_FEED_BASE_URL`` or ``feed publish --base-url``); ``/alerts.geojson`` and
  ``/alerts.atom`` also take ``?region=norway&since=P7D`` (an ISO 8601 duration or a date) and
  ``&stage=confirmed`` (``candidate``, ``confirmed``, ``cancelled``, comma-separated; a ``confirmed``
  feed also carries the cancellations of alerts that had been confirmed: ``feeds.stage_matches``);
- ``/alerts.gpkg``, ``/cap/<id>.xml``, ``/quicklooks/<id>.png``, ``/basemaps/<region>.png``.

Nothing else: names are matched against a whitelist (no dot-files, no temp files, no lock, no
directory listings), ``..`` segments, NUL and backslashes are refused with 403, and no path
component below the root may be a symlink (an in-root link to ``feed.json`` or ``.lock`` is
refused too; the file itself is opened with ``O_NOFOLLOW``). Only GET and HEAD are allowed (405
with ``Allow``). Every response carries ``ETag`` (content hash), ``Last-Modified`` and
``Cache-Control``; ``If-None-Match`` / ``If-Modified-Since`` give 304. Files are opened before
they are inspected, so a feed replaced by rename mid-request is served whole, old or new.

uvicorn does the HTTP: keep-alive and read time-outs, request framing (a refused POST with a body
cannot desynchronise the connection), and many concurrent clients. It binds 127.0.0.1 unless told
otherwise.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import re
import socket
import stat
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
WEB_ROUTES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js", "/style.css": "style.css"}
STORE_ROUTE = re.compile(
    r"(?:alerts\.(?:geojson|atom|gpkg)"
    r"|cap/[A-Za-z0-9][A-Za-z0-9._-]*\.xml"
    r"|quicklooks/[A-Za-z0-9][A-Za-z0-9._-]*\.png"
    r"|basemaps/[a-z0-9][a-z0-9-]*\.png"
    r"|regions/[a-z0-9][a-z0-9-]*\.(?:geojson|atom))"
)
FEED_ROUTE = re.compile(r"(?:alerts|regions/(?P<region>[a-z0-9][a-z0-9-]*))\.(?P<ext>geojson|atom)")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".atom": "application/atom+xml; charset=utf-8",
    ".xml": "application/cap+xml; charset=utf-8",
    ".png": "image/png",
    ".gpkg": "application/geopackage+sqlite3",
}
CACHE_CONTROL = {
    ".html": "no-cache",
    ".js": "no-cache",
    ".css": "no-cache",
    ".json": "no-cache",
    ".geojson": "public, max-age=60",
    ".atom": "public, max-age=60",
    ".xml": "public, max-age=60",
    ".gpkg": "public, max-age=60",
    ".png": "public, max-age=300",
}
ALLOWED = "GET, HEAD"
CSP = "default-src 'self'; img-src 'self' data:{tiles}; style-src 'self'; script-src 'self'; object-src 'none'"
KEEP_ALIVE_S = 5  # idle keep-alive connections are closed after this (uvicorn's read time-out)


class _ETagCache:
    """Content-hash ETags, remembered per (path, inode, size, mtime)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int, int, int], str] = {}

    def get(self, path: Path, st: os.stat_result, data: bytes) -> str:
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            tag = self._cache.get(key)
            if tag is None:
                tag = _etag(data)
                if len(self._cache) > 4096:
                    self._cache.clear()
                self._cache[key] = tag
            return tag


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    want = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == want for t in header.split(","))


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        text, status_code=status, media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **(headers or {})},
    )


def _no_symlink_path(root: Path, rel: str) -> Path | None:
    """``root/rel`` if no component below ``root`` is a symlink (missing ones are fine: 404 later)."""
    cur = root
    for part in rel.split("/"):
        cur = cur / part
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            return cur
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return None
    return cur


def _read(path: Path) -> tuple[bytes, os.stat_result]:
    """Read a regular file without following a symlink at its name (raises OSError otherwise)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise IsADirectoryError(str(path))
        return fh.read(), st


class FeedApp:
    """The request handling: whitelist, conditional GETs, dynamic feeds; wrapped by Starlette."""

    def __init__(self, store_dir: Path, tile_url: str | None = None, base_url: str | None = None) -> None:
        self.store_dir = Path(store_dir).resolve()
        self.tile_url = tile_url
        self.env_base_url = base_url.rstrip("/") if base_url else None
        self._saved: tuple[int, str | None] = (-1, None)  # (feed.json mtime_ns, its base_url)
        self.etags = _ETagCache()
        tiles = ""
        if tile_url:
            u = urlsplit(tile_url.replace("{s}", "a"))
            origin = f"{u.scheme}://{u.netloc}" if u.scheme in ("http", "https") and u.netloc else ""
            tiles = f" {origin}" + (f" {u.scheme}://*.{u.netloc.split('.', 1)[-1]}" if "{s}" in tile_url else "")
        self.csp = CSP.format(tiles=tiles)

    # -- routing
    def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            # answered without reading the body; uvicorn drains or closes the connection, so the
            # next request on it is framed correctly
            return _plain(405, "read-only: GET and HEAD only\n", {"Allow": ALLOWED})
        path = request.scope["path"]  # percent-decoded by the server
        raw = request.scope.get("raw_path", b"").decode("latin-1")
        segments = path.split("/")
        if (
            not path.startswith("/")
            or "\x00" in path
            or "\\" in path
            or "%00" in raw.lower()
            or any(s in (".", "..") for s in segments)
        ):
            return _plain(403, "forbidden\n")
        if path == "/map.json":
            return self._map_config(request)
        if path in WEB_ROUTES:
            return self._file(request, WEB_DIR, WEB_ROUTES[path])
        rel = path[1:]
        if not STORE_ROUTE.fullmatch(rel):
            return _plain(404, "not found\n")
        m = FEED_ROUTE.fullmatch(rel)
        if m is not None and (request.query_params or self._served_links()):
            return self._feed(request, m.group("region"), m.group("ext"))
        return self._file(request, self.store_dir, rel)

    def _configured_base_url(self) -> str | None:
        """The public base URL someone chose (settings, or ``feed publish --base-url``), or None."""
        if self.env_base_url:
            return self.env_base_url
        import json

        from gee_landslide.monitor.feeds import FEED_CONFIG

        cfg = self.store_dir / FEED_CONFIG
        try:
            mtime = cfg.stat().st_mtime_ns
        except OSError:
            return None
        if mtime != self._saved[0]:
            try:
                url = str(json.loads(cfg.read_text(encoding="utf-8"))["base_url"]).rstrip("/")
            except (OSError, ValueError, KeyError, TypeError):
                url = None
            self._saved = (mtime, url)
        return self._saved[1]

    def _served_links(self) -> bool:
        return self._configured_base_url() is None

    def generates_feed(self, request: Request) -> bool:
        """True when this request is answered from the store rather than from a file."""
        return (
            request.method in ("GET", "HEAD")
            and FEED_ROUTE.fullmatch(request.scope["path"][1:]) is not None
            and (bool(request.query_params) or self._served_links())
        )

    # -- responses
    def _headers(self, suffix: str, etag: str, mtime: float) -> dict[str, str]:
        headers = {
            "ETag": etag,
            "Last-Modified": email.utils.formatdate(mtime, usegmt=True),
            "Cache-Control": CACHE_CONTROL.get(suffix, "no-cache"),
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        }
        if suffix == ".html":
            headers["Content-Security-Policy"] = self.csp
        return headers

    def _send(self, request: Request, data: bytes, suffix: str, etag: str, mtime: float) -> Response:
        headers = self._headers(suffix, etag, mtime)
        if self._not_modified(request, etag, mtime):
            return Response(status_code=304, headers=headers)
        headers["Content-Length"] = str(len(data))
        body = b"" if request.method == "HEAD" else data
        return Response(body, status_code=200, headers=headers,
                        media_type=CONTENT_TYPES.get(suffix, "application/octet-stream"))

    def _file(self, request: Request, root: Path, rel: str) -> Response:
        target = _no_symlink_path(root.resolve(), rel)
        if target is None:
            return _plain(403, "forbidden\n")
        try:
            data, st = _read(target)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return _plain(404, "not found\n")
        except OSError:  # ELOOP from O_NOFOLLOW (a symlink swapped in), permissions
            return _plain(403, "forbidden\n")
        return self._send(request, data, target.suffix, self.etags.get(target, st, data), st.st_mtime)

    def _feed(self, request: Request, region: str | None, ext: str) -> Response:
        """A feed generated from the store, linking to the URL this request reached."""
        from gee_landslide.monitor.alert_gpkg import read_alerts
        from gee_landslide.monitor.feeds import FeedQueryError, atom_bytes, geojson_bytes, select_alerts
        from gee_landslide.monitor.store import STORE_FILE

        gpkg = self.store_dir / STORE_FILE
        try:
            st = os.stat(gpkg)
        except OSError:
            return self._file(request, self.store_dir, f"{'alerts' if region is None else 'regions/' + region}.{ext}")
        q = request.query_params
        unknown = sorted(set(q) - {"region", "since", "stage"})
        if unknown:
            return _plain(400, f"unknown query parameter(s) {', '.join(unknown)}; use region=, since= and stage=\n")
        if region is not None and "region" in q and q["region"] != region:
            return _plain(400, "region= does not match the region of this feed\n")
        region = region or q.get("region") or None
        try:
            alerts = select_alerts(read_alerts(gpkg), region=region, since=q.get("since"), stage=q.get("stage"))
        except FeedQueryError as exc:
            return _plain(400, exc.message + "\n")
        base = self._configured_base_url() or str(request.base_url).rstrip("/")
        data = (geojson_bytes if ext == "geojson" else atom_bytes)(alerts, base, region=region)
        return self._send(request, data, f".{ext}", _etag(data), st.st_mtime)

    def _map_config(self, request: Request) -> Response:
        import json

        from gee_landslide.monitor.basemap import read_basemaps

        cfg: dict[str, Any] = {"basemaps": read_basemaps(self.store_dir), "tile_url": self.tile_url}
        if self.tile_url:
            cfg["tile_attribution"] = "© OpenStreetMap contributors" if "openstreetmap" in self.tile_url else ""
        data = json.dumps(cfg, sort_keys=True).encode("utf-8")
        mtimes = [p.stat().st_mtime for p in (self.store_dir / "basemaps").glob("*.json")] or [0.0]
        return self._send(request, data, ".json", _etag(data), max(mtimes))

    @staticmethod
    def _not_modified(request: Request, etag: str, mtime: float) -> bool:
        inm = request.headers.get("if-none-match")
        if inm is not None:
            return _etag_matches(inm, etag)
        ims = request.headers.get("if-modified-since")
        if ims:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                return False
            return int(mtime) <= since
        return False


def create_app(store_dir: str | os.PathLike[str], tile_url: str | None = None) -> Starlette:
    """The Starlette app serving ``store_dir`` (``tile_url``: default ``$GEE_LANDSLIDE_TILE_URL``)."""
    from gee_landslide.core.settings import get_settings

    settings = get_settings()  # read once: a server is configured when it starts
    feed_app = FeedApp(Path(store_dir), settings.tile_url if tile_url is None else tile_url,
                       settings.feed_base_url)

    async def endpoint(request: Request) -> Response:
        # small files from the page cache are read on the event loop (a thread hop per request
        # costs more than the read); feeds generated from the GeoPackage go to the thread pool
        if feed_app.generates_feed(request):
            return await run_in_threadpool(feed_app.handle, request)
        return feed_app.handle(request)

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "TRACE", "CONNECT"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])


class FeedServer:
    """A uvicorn server bound to its socket at construction (``port=0`` picks a free port).

    ``serve_forever()`` blocks (run it in a thread, or in the main thread for Ctrl-C),
    ``shutdown()`` stops it and waits, ``server_close()`` closes the socket;
    ``server_address`` is ``(host, port)`` as bound.
    """

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 8080) -> None:
        import uvicorn

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted connections inherit this: headers and body go out as two writes, and Nagle's
        # algorithm would hold the body back until the client's delayed ACK (~40 ms per request)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.socket.bind((host, port))
            self.socket.listen(2048)  # connections queue from now on, before the event loop runs
        except OSError:
            self.socket.close()
            raise
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        config = uvicorn.Config(
            app, lifespan="off", log_config=None, access_log=True, server_header=False,
            timeout_keep_alive=KEEP_ALIVE_S, backlog=2048, timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self._done = threading.Event()

    def serve_forever(self) -> None:
        self._done.clear()
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self._done.set()

    def shutdown(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self._done.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()


def make_server(store_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8080,
                tile_url: str | None = None) -> FeedServer:
    """A bound, not yet serving, server (``port=0`` picks a free port: see ``server_address``)."""
    return FeedServer(create_app(store_dir, tile_url), host, port)


def serve(store_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve until interrupted (Ctrl-C)."""
    server = make_server(store_dir, host, port)
    h, p = server.server_address[:2]
    log.info("serving %s on http://%s:%s/", store_dir, h, p)
    run_until_interrupted(server)


def run_until_interrupted(server: FeedServer) -> None:
    """Serve requests until Ctrl-C, then close the listening socket."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
