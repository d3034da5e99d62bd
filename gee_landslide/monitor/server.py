"""A small read-only HTTP server for the alert feeds and the web map (standard library only).

``serve(store_dir, host, port)`` serves, from the store directory:

- ``/`` (``index.html``), ``/app.js``, ``/style.css``: the web map (package ``monitor/web``);
- ``/alerts.geojson``, ``/alerts.atom``, ``/alerts.gpkg``, ``/cap/<id>.xml``, ``/quicklooks/<id>.png``.

Nothing else: names are matched against a whitelist (no dot-files, no temp files, no lock, no
directory listings), ``..`` segments and encoded tricks are refused with 403, and the resolved file
must lie inside its root (symlinks cannot escape). Only GET and HEAD are allowed (405 with
``Allow`` otherwise). Every response carries ``ETag`` (content hash), ``Last-Modified`` and
``Cache-Control``; ``If-None-Match`` / ``If-Modified-Since`` give 304. Files are opened before
they are inspected, so a feed replaced by rename mid-request is served whole, old or new.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
WEB_ROUTES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js", "/style.css": "style.css"}
STORE_ROUTE = re.compile(
    r"(?:alerts\.(?:geojson|atom|gpkg)"
    r"|cap/[A-Za-z0-9][A-Za-z0-9._-]*\.xml"
    r"|quicklooks/[A-Za-z0-9][A-Za-z0-9._-]*\.png)"
)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
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
    ".geojson": "public, max-age=60",
    ".atom": "public, max-age=60",
    ".xml": "public, max-age=60",
    ".gpkg": "public, max-age=60",
    ".png": "public, max-age=300",
}
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'"
ALLOWED = "GET, HEAD"


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
                tag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
                if len(self._cache) > 4096:
                    self._cache.clear()
                self._cache[key] = tag
            return tag


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    want = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == want for t in header.split(","))


class AlertRequestHandler(BaseHTTPRequestHandler):
    """Serves the whitelisted files; ``store_dir`` and ``etags`` are set on a subclass."""

    server_version = "gee-landslide"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    store_dir: Path = Path(".")
    etags: _ETagCache = _ETagCache()

    def version_string(self) -> str:
        return self.server_version

    # -- methods
    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # POST, PUT, DELETE, PATCH, OPTIONS, anything else
            return self._method_not_allowed
        raise AttributeError(name)

    def _method_not_allowed(self) -> None:
        self._simple(HTTPStatus.METHOD_NOT_ALLOWED, "read-only: GET and HEAD only\n", {"Allow": ALLOWED})

    # -- helpers
    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def _simple(self, status: HTTPStatus, text: str, headers: dict[str, str] | None = None) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _resolve(self) -> tuple[HTTPStatus, Path | None]:
        raw = urlsplit(self.path).path
        path = unquote(raw)
        segments = path.split("/")
        if (
            not path.startswith("/")
            or "\x00" in path
            or "\\" in path
            or any(s in (".", "..") for s in segments)
        ):
            return HTTPStatus.FORBIDDEN, None
        if path in WEB_ROUTES:
            root, rel = WEB_DIR, WEB_ROUTES[path]
        elif STORE_ROUTE.fullmatch(path[1:]):
            root, rel = self.store_dir, path[1:]
        else:
            return HTTPStatus.NOT_FOUND, None
        root = root.resolve()
        target = (root / rel).resolve()
        if root not in target.parents:
            return HTTPStatus.FORBIDDEN, None
        return HTTPStatus.OK, target

    def _serve(self, head: bool) -> None:
        status, target = self._resolve()
        if target is None:
            msg = "forbidden\n" if status == HTTPStatus.FORBIDDEN else "not found\n"
            self._simple(status, msg)
            return
        try:
            with open(target, "rb") as fh:
                st = os.fstat(fh.fileno())
                data = fh.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            self._simple(HTTPStatus.NOT_FOUND, "not found\n")
            return
        except OSError:
            self._simple(HTTPStatus.INTERNAL_SERVER_ERROR, "cannot read the file\n")
            return
        etag = self.etags.get(target, st, data)
        last_mod = email.utils.formatdate(st.st_mtime, usegmt=True)
        suffix = target.suffix
        headers = {
            "ETag": etag,
            "Last-Modified": last_mod,
            "Cache-Control": CACHE_CONTROL.get(suffix, "no-cache"),
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        }
        if suffix == ".html":
            headers["Content-Security-Policy"] = CSP
        if self._not_modified(etag, st.st_mtime):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", CONTENT_TYPES.get(suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _not_modified(self, etag: str, mtime: float) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            return _etag_matches(inm, etag)
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                return False
            return int(mtime) <= since
        return False


def make_server(store_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """A bound, not yet serving, server (``port=0`` picks a free port: see ``server_address``)."""
    handler = type(
        "BoundAlertRequestHandler",
        (AlertRequestHandler,),
        {"store_dir": Path(store_dir).resolve(), "etags": _ETagCache()},
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve(store_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve until interrupted (Ctrl-C)."""
    server = make_server(store_dir, host, port)
    h, p = server.server_address[:2]
    log.info("serving %s on http://%s:%s/", store_dir, h, p)
    run_until_interrupted(server)


def run_until_interrupted(server: ThreadingHTTPServer) -> None:
    """Serve requests until Ctrl-C, then close the listening socket."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
