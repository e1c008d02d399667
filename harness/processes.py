"""Starting our worker processes and reading their metrics (tests, benchmarks, chaos)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from schemas.settings import Settings

REPO = Path(__file__).resolve().parents[1]


ADMIN_PROPERTIES = REPO / Settings.kafka_clients_dir / "admin.properties"  # where make up writes it


def as_admin(settings: Settings) -> Settings:
    """The settings with the local broker's admin identity, unless a client file is named.
    Tests, benchmarks and the chaos run work under topic prefixes of their own, which no
    role but admin is granted (the ACLs name the deployment's topics)."""
    if settings.kafka_client_properties or not ADMIN_PROPERTIES.exists():
        return settings
    return replace(settings, kafka_client_properties=str(ADMIN_PROPERTIES),
                   kafka_clients_dir=str(ADMIN_PROPERTIES.parent))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DATABASE_URL": settings.database_url,
        "TOPIC_PREFIX": settings.topic_prefix,
        "ADMIN_MAP": settings.admin_map,
        "TOPIC_PARTITIONS": str(settings.partitions),
        "FAUST_APP_ID": settings.faust_app_id,
        "SINK_GROUP_ID": settings.sink_group_id,
        "FAUST_DATA_DIR": settings.faust_data_dir,
        "WORKER_METRICS_PORT": str(settings.worker_metrics_port),
        "SINK_METRICS_PORT": str(settings.sink_metrics_port),
        "COMMIT_INTERVAL_S": str(settings.commit_interval_s),
        "PRODUCER_LINGER_MS": str(settings.producer_linger_ms),
        "WORKER_BATCH_SIZE": str(settings.worker_batch_size),
        "DIGEST_CLOCK_OFFSET_S": str(settings.digest_clock_offset_s),
        "SESSION_TIMEOUT_S": str(settings.session_timeout_s),
        "PENDING_RESOLUTION_TTL_S": str(settings.pending_resolution_ttl_s),
        "FAUST_LOOP": settings.faust_loop,
        "KAFKA_CLIENT_PROPERTIES": settings.kafka_client_properties,
        "KAFKA_CLIENTS_DIR": settings.kafka_clients_dir,
        "CONSOLE_PORT": str(settings.console_port),
        "CONSOLE_METRICS_PORT": str(settings.console_metrics_port),
        "CONSOLE_DIR": settings.console_dir,
        "PYTHONUNBUFFERED": "1",
    })
    return env


@dataclass
class Process:
    """A worker process of ours, started with `python -m ...`, its log in a file."""

    args: list[str]
    settings: Settings
    log: Path
    ready_line: str
    proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 90.0) -> "Process":
        offset = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen([sys.executable, "-m", *self.args], cwd=REPO, env=settings_env(self.settings),
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.args} exited with {self.proc.returncode}:\n{self.tail()}")
            if self.ready_line in self.log.read_text(errors="replace")[offset:]:
                return self
            time.sleep(0.2)
        raise AssertionError(f"{self.args} not ready after {timeout_s} s:\n{self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:]) if self.log.exists() else ""

    def received(self) -> float:
        """Submissions this worker has read so far (its metrics; raises when it answers none)."""
        return metric_value(self.metrics(self.settings.worker_metrics_port), "complaints_received_total")

    def metrics(self, port: int) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.read().decode()


def worker_process(settings: Settings, log: Path) -> Process:
    """A stream worker (`python -m processors worker`) under `settings`, not started yet;
    ready once its log says its partitions are assigned and its tables recovered."""
    return Process(["processors", "worker"], settings, log, ready_line="Worker ready")


def received_by(workers: list[Process]) -> float:
    """Submissions the workers have read so far; a worker stopped or killed counts nothing."""
    total = 0.0
    for w in workers:
        try:
            total += w.received()
        except OSError:
            pass
    return total


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


def _admin(url: str, statement) -> None:
    import psycopg2

    conn = psycopg2.connect(url)  # a new connection each time: the server may have restarted
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def create_database(url: str, name: str) -> str:
    """Create database `name` on the server of `url`; return its URL."""
    from psycopg2 import sql

    _admin(url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def drop_database(url: str, name: str) -> None:
    from psycopg2 import sql

    _admin(url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
