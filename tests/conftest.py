"""Integration fixtures: the real Kafka broker and PostgreSQL started by `make test`.

Each test session works under its own topic prefix and Faust app id, so tests never see
each other's events or a demo's. When Kafka or PostgreSQL cannot be reached the
integration tests fail: they never skip.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from processors.topics import ensure_topics
from schemas.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in item.nodeid or item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_kafka(settings: Settings) -> None:
    host, _, port = settings.kafka_bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host or "localhost", int(port)), timeout=5).close()
    except OSError as exc:
        pytest.fail(f"Kafka is not reachable at {settings.kafka_bootstrap} ({exc}); run the tests with `make test`")


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def kafka(base_settings: Settings) -> Settings:
    """Settings under a fresh topic prefix, with every topic of the contract created."""
    require_kafka(base_settings)
    run = uuid.uuid4().hex[:8]
    settings = replace(base_settings, topic_prefix=f"test-{run}.", partitions=3, faust_app_id=f"test-router-{run}")
    ensure_topics(settings)
    return settings


def settings_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DATABASE_URL": settings.database_url,
        "TOPIC_PREFIX": settings.topic_prefix,
        "TOPIC_PARTITIONS": str(settings.partitions),
        "FAUST_APP_ID": settings.faust_app_id,
        "SINK_GROUP_ID": settings.sink_group_id,
        "FAUST_DATA_DIR": settings.faust_data_dir,
        "WORKER_METRICS_PORT": str(settings.worker_metrics_port),
        "SINK_METRICS_PORT": str(settings.sink_metrics_port),
        "COMMIT_INTERVAL_S": str(settings.commit_interval_s),
        "DIGEST_CLOCK_OFFSET_S": str(settings.digest_clock_offset_s),
        "SESSION_TIMEOUT_S": str(settings.session_timeout_s),
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

    def metrics(self, port: int) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.read().decode()


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


@pytest.fixture
def worker_factory(kafka: Settings, tmp_path: Path) -> Iterator:
    """Start stream workers for this test's settings; all are stopped at teardown."""
    started: list[Process] = []

    def start(settings: Settings | None = None, name: str = "worker") -> Process:
        s = settings or replace(kafka, faust_data_dir=str(tmp_path / name), worker_metrics_port=free_port())
        p = Process(["processors", "worker"], s, tmp_path / f"{name}.log", ready_line="Worker ready")
        started.append(p)
        return p.start()

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def worker(worker_factory) -> Process:
    return worker_factory()


def require_postgres(url: str) -> None:
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {url} ({exc}); run the tests with `make test`")


@pytest.fixture(scope="session")
def database(kafka: Settings) -> Iterator[Settings]:
    """Settings with a fresh database of their own on the configured PostgreSQL server."""
    import psycopg2
    from psycopg2 import sql

    require_postgres(kafka.database_url)
    name = f"complaints_test_{kafka.topic_prefix.strip('.').replace('-', '_')}"

    def admin(statement: sql.Composable) -> None:
        conn = psycopg2.connect(kafka.database_url)  # a new one each time: a test may restart the server
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = kafka.database_url.rpartition("/")
    yield replace(kafka, database_url=f"{base}/{name}")
    admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def sink_factory(database: Settings, tmp_path: Path) -> Iterator:
    started: list[Process] = []

    def start(settings: Settings | None = None, name: str = "sink") -> Process:
        s = settings or replace(database, sink_metrics_port=free_port())
        p = Process(["sinks", "postgres"], s, tmp_path / f"{name}.log", ready_line="sink ready")
        started.append(p)
        return p.start()

    yield start
    for p in started:
        p.stop()
