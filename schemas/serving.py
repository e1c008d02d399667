"""The HTTP endpoint every worker process serves: Prometheus metrics, and whether it is ready.

`/metrics` is prometheus-client's exposition; `/ready` answers 200 once the process does its
work (the stream worker: partitions assigned, tables recovered, the delegation registry
loaded; the sink: consuming), else 503 with the reason; `/healthz` answers 200 while the
process serves at all. `make up` waits for `/ready` before it says a service started, and the
Kubernetes manifests use it as the readiness probe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import Gauge, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer


class Readiness:
    """Whether the process is ready, and if not why; mirrored in a `complaints_*_ready` gauge."""

    def __init__(self, gauge: Gauge) -> None:
        self._lock = threading.Lock()
        self._ready = False
        self._reason = "starting"
        self._gauge = gauge
        gauge.set(0)

    def set(self, ready: bool, reason: str = "") -> None:
        with self._lock:
            self._ready, self._reason = ready, ("" if ready else reason or "not ready")
        self._gauge.set(1 if ready else 0)

    def state(self) -> tuple[bool, str]:
        with self._lock:
            return self._ready, self._reason


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass  # a scrape every few seconds is not news


def serve(port: int, host: str, readiness: Readiness | None = None) -> None:
    """Serve /metrics, /ready and /healthz on a daemon thread."""
    metrics = make_wsgi_app()

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/ready", "/healthz"):
            ok, reason = readiness.state() if readiness is not None and path == "/ready" else (True, "")
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "text/plain; charset=utf-8")])
            return [(("ready" if path == "/ready" else "ok") if ok else f"not ready: {reason}").encode() + b"\n"]
        return metrics(environ, start_response)

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name=f"metrics-{port}", daemon=True).start()
