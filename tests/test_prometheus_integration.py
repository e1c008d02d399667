"""A real Prometheus (Debian's package) scrapes the running workers."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from harness.processes import free_port
from tests.fixtures import complaint
from tests.test_deploy import alert_exprs, dashboard_exprs

pytestmark = pytest.mark.integration


def query(port: int, expr: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:  # a bad expression answers 400 with a JSON error
        if exc.code != 400:
            raise
        return json.loads(exc.read())


def wait_ready(port: int, prometheus: subprocess.Popen, timeout_s: float = 60) -> None:
    """Prometheus answers 503 "Service Unavailable" (not JSON) until its storage is open."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert prometheus.poll() is None, "prometheus exited while starting"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:  # refused while it binds, 503 while it starts
            pass
        time.sleep(0.5)
    raise AssertionError(f"prometheus not ready after {timeout_s} s")


def test_prometheus_scrapes_the_complaints_series(worker_factory, sink_factory, database, tmp_path):
    from producers.client import ComplaintPublisher

    worker = worker_factory()
    sink = sink_factory()
    with ComplaintPublisher(database) as pub:
        pub.publish_complaint(complaint(province="79"))
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed; `make test` installs it (deploy/tools.sh)")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: complaints-worker
    static_configs: [{{targets: ["127.0.0.1:{worker.settings.worker_metrics_port}"]}}]
  - job_name: complaints-sink
    static_configs: [{{targets: ["127.0.0.1:{sink.settings.sink_metrics_port}"]}}]
""")
    prometheus = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{port}"],
                                  stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"))
    try:
        wait_ready(port, prometheus)
        deadline = time.monotonic() + 60
        names: set[str] = set()
        while time.monotonic() < deadline:
            try:
                up = query(port, "up")["data"]["result"]
                result = query(port, 'count by (__name__) ({__name__=~"complaints_.+"})')["data"]["result"]
                names = {r["metric"]["__name__"] for r in result}
                if len(up) == 2 and all(r["value"][1] == "1" for r in up) and \
                        {"complaints_received_total", "complaints_sink_events_total"} <= names:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert {"complaints_received_total", "complaints_routed_total", "complaints_sink_rows_written_total",
                "complaints_routing_latency_seconds_bucket"} <= names, names
        # Every dashboard panel and alert rule is valid PromQL against the live data.
        for expr in dashboard_exprs() + alert_exprs():
            answer = query(port, expr)
            assert answer["status"] == "success", (expr, answer)
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)
