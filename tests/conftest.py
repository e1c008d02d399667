"""Integration fixtures: the real Kafka broker and PostgreSQL started by `make test`.

Each test session works under its own topic prefix and Faust app id, so tests never see
each other's events or a demo's. When Kafka or PostgreSQL cannot be reached the
integration tests fail: they never skip.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from processors.topics import ensure_topics
from schemas.settings import Settings
from tests.harness import REPO, Process, free_port, metric_value, settings_env  # noqa: F401 - re-exported


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in item.nodeid or item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)


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
