"""A second project must not use another project's Prefect server that holds its port."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gee_landslide.core.paths import project_paths
from gee_landslide.ops.supervisor import Orchestra, PortInUseError, start_server


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        pass


def test_a_foreign_server_on_the_port_is_refused_not_used(tmp_path: Path) -> None:
    other = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        orch = Orchestra(project_paths(tmp_path), port=other.server_address[1])
        with pytest.raises(PortInUseError) as info:
            start_server(orch, timeout=5)
        assert f"port {orch.port} already serves a Prefect API" in str(info.value)
        assert str(tmp_path) in str(info.value) and "--port" in info.value.hint
        assert not orch.pid_file("server").exists()  # nothing was started
    finally:
        other.shutdown()
