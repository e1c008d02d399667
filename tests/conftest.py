"""Integration fixtures: the real Kafka broker and PostgreSQL started by `make test`.

Each test session works under its own topic prefix and Faust app id, so tests never see
each other's events or a demo's. When Kafka or PostgreSQL cannot be reached the
integration tests fail: they never skip.
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from processors.ops.topics import delete_topics, ensure_topics
from schemas.settings import Settings
from harness.processes import Process, as_admin, create_database, drop_database, free_port


class NotAUnitTest(AssertionError):
    pass


@pytest.fixture(autouse=True)
def unit_tests_stay_in_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test without the integration marker runs no subprocess and opens no connection:
    `make unit` needs no broker, no database and no binary besides Python. One that does
    fails here and names what it tried, so the marker is never forgotten."""
    if request.node.get_closest_marker("integration"):
        return

    def refuse(what: str):
        def refused(*args, **kwargs):
            raise NotAUnitTest(f"a unit test {what}: mark it integration (pytest.mark.integration)")
        return refused

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("starts a process"))
    monkeypatch.setattr(socket.socket, "connect", refuse("opens a connection"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("opens a connection"))


def require_kafka(settings: Settings) -> None:
    host, _, port = settings.kafka_bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host or "localhost", int(port)), timeout=5).close()
    except OSError as exc:
        pytest.fail(f"Kafka is not reachable at {settings.kafka_bootstrap} ({exc}); run the tests with `make test`")


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """The tests' helpers and the processes they start act as `admin` (they work under
    their own topic prefixes); the ACL tests use the other principals' files."""
    return as_admin(Settings.from_env())


@pytest.fixture(scope="session")
def kafka(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings under a fresh topic prefix, with every topic of the contract created, and
    deleted after the session (a development broker would run out of open files). Their
    tables' directory is the session's, never the deployment's (.run/faust)."""
    require_kafka(base_settings)
    run = uuid.uuid4().hex[:8]
    settings = replace(base_settings, topic_prefix=f"test-{run}.", partitions=3, faust_app_id=f"test-{run}.router",
                       faust_data_dir=str(tmp_path_factory.mktemp("faust")))
    ensure_topics(settings)
    yield settings
    delete_topics(settings)


@pytest.fixture
def scratch_topics(kafka: Settings) -> Iterator:
    """Creates the topics of another prefix and app id for one test, deleted after it."""
    made: list[Settings] = []

    def make(settings: Settings) -> Settings:
        ensure_topics(settings)
        made.append(settings)
        return settings

    yield make
    for settings in made:
        delete_topics(settings)


def process_factory(args: list[str], ready_line: str, default_name: str, defaults, tmp_path: Path,
                    own=lambda settings, name: settings) -> Iterator:
    """Start processes of ours with given (or default) settings, `own` making what each
    process must not share its own; all stopped at teardown."""
    started: list[Process] = []

    def start(settings: Settings | None = None, name: str = default_name) -> Process:
        p = Process(args, own(settings or defaults(name), name), tmp_path / f"{name}.log", ready_line=ready_line)
        started.append(p)
        return p.start()

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def worker_factory(kafka: Settings, tmp_path: Path) -> Iterator:
    def own_tables(settings: Settings, name: str) -> Settings:
        """Settings derived from the session's share its tables' directory: each worker gets
        its own in the test's directory instead, unless the test chose one (a restart that
        must find the tables it left)."""
        if settings.faust_data_dir == kafka.faust_data_dir:
            return replace(settings, faust_data_dir=str(tmp_path / name))
        return settings

    yield from process_factory(["processors", "worker"], "Worker ready", "worker", lambda name: replace(
        kafka, worker_metrics_port=free_port()), tmp_path, own=own_tables)


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
    require_postgres(kafka.database_url)
    name = f"complaints_test_{kafka.topic_prefix.strip('.').replace('-', '_')}"
    yield replace(kafka, database_url=create_database(kafka.database_url, name))
    drop_database(kafka.database_url, name)


@pytest.fixture
def sink_factory(database: Settings, tmp_path: Path) -> Iterator:
    yield from process_factory(["sinks", "postgres"], "sink ready", "sink",
                               lambda name: replace(database, sink_metrics_port=free_port()), tmp_path)
