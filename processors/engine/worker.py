"""Runs the Faust worker: `python -m processors worker`.

RocksDB writes land on disk before their Kafka transaction commits. After a crash the
local tables may therefore hold writes whose transaction was aborted (a complaint marked
routed whose routed event never became visible). So local table state is trusted only
after a clean shutdown; otherwise it is rebuilt from the changelog topics, read
read_committed, before the worker starts (processors/engine/changelogs.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import faust
import mode.loop
from faust.worker import Worker
from kafka.admin import KafkaAdminClient

from processors import metrics
from processors.engine import startup
from processors.engine.app import build_app
from processors.engine.worker_app import WorkerApp
from processors.engine.changelogs import discard_tables, rebuild_tables
from processors.engine.startup import CannotStart
from schemas.kafka_client import ClientPropertiesError
from schemas.reach import BOOTSTRAP_TIMEOUT_MS, kafka_unreachable
from schemas.settings import ReplicationError, Settings

log = logging.getLogger(__name__)
CLEAN_MARKER = ".clean-shutdown"


def stopped_uncleanly(tabledir: Path) -> bool:
    """True when local tables exist and the last run did not mark a clean stop. The mark is
    consumed: a run that dies from here on is unclean again."""
    marker = tabledir / CLEAN_MARKER
    if marker.exists():
        marker.unlink()
        return False
    return tabledir.exists() and any(tabledir.iterdir())


def dump_state(app: faust.App) -> None:
    """SIGUSR1: print every asyncio task's stack and the consumer's offset bookkeeping and
    transactions to the log, to see where a stuck worker waits."""
    import asyncio
    import io

    out = io.StringIO()
    for task in asyncio.all_tasks(asyncio.get_event_loop()):
        task.print_stack(limit=30, file=out)
    consumer: Any = app.consumer  # Faust's bookkeeping is private: read, never written
    for tp in sorted(set(consumer._read_offset) | set(consumer._committed_offset) | set(consumer._acked)):
        acked = consumer._acked.get(tp) or []
        print(f"tp {tp.topic}/{tp.partition}: read={consumer._read_offset.get(tp)} "
              f"committed={consumer._committed_offset.get(tp)} acked={len(acked)} "
              f"[{min(acked, default=None)}..{max(acked, default=None)}] gap={sorted(consumer._gap.get(tp) or [])[:5]} "
              f"paused={tp in consumer._paused_partitions}", file=out)
    producers: Any = app.producer
    for tid, producer in producers._transaction_producers.items():
        txn = producer._txn_manager
        print(f"txn {tid}: state={txn.state} partitions={len(txn._txn_partitions)} "
              f"pending={len(txn._pending_txn_partitions)} offsets={list(txn._pending_txn_offsets)} "
              f"epoch={txn._pid_and_epoch}", file=out)
    print(out.getvalue(), file=sys.stderr, flush=True)


class DiagnosticWorker(Worker):
    def _on_sigusr1(self) -> None:  # mode's own handler prints every frame's locals: too much
        dump_state(self.app)


def admin_client(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(**settings.kafka_python("router"), client_id="complaints-worker",
                            request_timeout_ms=10_000, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)


def changelog_topics(app: faust.App) -> list[str]:
    return [table.changelog_topic.get_topic_name() for table in app.tables.values()]


def connect(settings: Settings) -> KafkaAdminClient:
    """The admin client of the start-up checks; an unreachable cluster is CannotStart in one
    line (a client file it cannot honour raises ClientPropertiesError, its own line)."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # the one line says it all
    try:
        return admin_client(settings)
    except ClientPropertiesError:
        raise
    except Exception as exc:
        raise CannotStart(kafka_unreachable("worker", settings, exc).removeprefix("worker: ")) from exc


def sized(settings: Settings, admin: KafkaAdminClient) -> Settings:
    """The settings with the replication factor of the cluster found (its changelogs are made
    with it, as the topics command makes the rest). Raises CannotStart."""
    try:
        return replace(settings, replication_factor=settings.replicas(len(admin.describe_cluster()["brokers"])))
    except ReplicationError as exc:
        raise CannotStart(str(exc)) from exc


def prepare(app: WorkerApp, settings: Settings, tabledir: Path, admin: KafkaAdminClient) -> None:
    """The checks of processors/engine/startup.py; local tables that belong to another cluster or
    to changelogs deleted since are discarded, and after an unclean stop they are rebuilt
    from the changelogs. Raises CannotStart."""
    startup.check_partitions(admin, settings)
    identity = startup.cluster_identity(admin, changelog_topics(app))
    foreign = startup.untrusted_because(tabledir, identity)
    if foreign is not None:
        # Their offsets mean nothing here, and the changelogs they came from may be gone:
        # start empty; Faust's recovery reads whatever changelogs this cluster has.
        discarded = discard_tables(app, settings.partitions)
        (tabledir / CLEAN_MARKER).unlink(missing_ok=True)
        startup.remember_identity(tabledir, identity)
        print(f"worker: discarded {discarded} local table partitions ({tabledir}): {foreign}; they are recovered "
              f"from this cluster's changelogs", file=sys.stderr, flush=True)
        return
    if not stopped_uncleanly(tabledir):
        return
    print(f"worker: rebuilding the local tables from the changelogs ({tabledir}): the previous run did not stop "
          f"cleanly", file=sys.stderr, flush=True)
    try:
        rebuilt = rebuild_tables(app, app.aiokafka_connection(), settings.partitions)
    except Exception as exc:  # the next start rebuilds again: nothing is trusted until one completes
        raise CannotStart(f"cannot rebuild the tables from Kafka at {settings.kafka_bootstrap}: {exc!r}") from exc
    startup.remember_identity(tabledir, identity)
    print(f"worker: rebuilt {rebuilt.partitions} table partitions from {rebuilt.records:,} changelog records "
          f"in {rebuilt.seconds:.1f} s", file=sys.stderr, flush=True)


def quiet_gc() -> None:
    """Collect cyclic garbage less often. The router allocates a few hundred objects per
    complaint, few of them in cycles; at Python's default (a young collection every 700
    allocations) the collector took about a tenth of the worker's CPU (two A/B rounds on a
    40,000 backlog: 520 -> 447 and 568 -> 513 µs CPU per complaint). What exists at start
    (modules, the app) is frozen out of every collection."""
    gc.set_threshold(50_000, 50, 100)
    gc.freeze()


# A worker fenced again and again rejoins at most this often within REJOIN_WINDOW_S, then
# exits for its supervisor: something other than one pause is wrong.
MAX_REJOINS = 5
REJOIN_WINDOW_S = 600.0


def run(loglevel: str = "info") -> int:
    """Run the worker until it stops. A worker fenced by its group (a transaction it could not
    commit: it paused past its session, and another member took its partitions over) does not
    exit, as Kafka Streams' tasks do not: the broker has aborted its open transactions (the
    new owner's producer fenced them); it drops its local tables, rebuilds them from the
    changelogs, and joins the group again with a new app in the same process."""
    settings = Settings.from_env()
    mode.loop.use(settings.faust_loop)  # before anything creates a loop
    Path(settings.faust_data_dir).mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    try:
        startup.check_libraries()
    except CannotStart as exc:
        print(f"worker: cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    rejoins: list[float] = []
    serving = False
    first = True
    while True:
        try:
            admin = connect(settings)  # one client for the checks of a start (or a rejoin)
            try:
                if first:
                    settings, first = sized(settings, admin), False
                app = build_app(settings)
                tabledir = Path(app.conf.tabledir)
                prepare(app, settings, tabledir, admin)  # after a fence: no clean mark, so the tables are rebuilt
            finally:
                admin.close()
        except (CannotStart, ClientPropertiesError) as exc:
            print(f"worker: cannot start: {exc}", file=sys.stderr, flush=True)
            return 1
        if not serving:
            metrics.serve(settings.worker_metrics_port, settings.metrics_host)
            quiet_gc()
            serving = True
        code = run_app(app, loglevel)
        if code == 0:
            tabledir.mkdir(parents=True, exist_ok=True)
            (tabledir / CLEAN_MARKER).touch()
            remember_identity_after_stop(app, settings, tabledir)
            return 0
        if app.commit_failed is None:
            return code
        now = time.monotonic()
        rejoins = [t for t in rejoins if now - t < REJOIN_WINDOW_S] + [now]
        if len(rejoins) > MAX_REJOINS:
            print(f"worker: fenced {len(rejoins)} times in {REJOIN_WINDOW_S:.0f} s; exiting for the supervisor",
                  file=sys.stderr, flush=True)
            return code
        metrics.REJOINS.inc()
        metrics.READINESS.set(False, "fenced: rebuilding its tables to rejoin the group")
        print(f"worker: fenced ({app.commit_failed}): its open transactions were aborted by the broker; dropping "
              f"the local tables it can no longer trust and rejoining the group", file=sys.stderr, flush=True)
        del app
        gc.collect()  # the stopped app's RocksDB handles: their locks go with them
        asyncio.set_event_loop(asyncio.new_event_loop())  # mode closed the last one


def run_app(app: WorkerApp, loglevel: str) -> int:
    """Run one app until it stops; its exit code."""
    worker = DiagnosticWorker(app, loglevel=loglevel, quiet=True, override_logging=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 1


def remember_identity_after_stop(app: faust.App, settings: Settings, tabledir: Path) -> None:
    """The changelogs exist once the worker has run: record their ids with the clean stop."""
    try:
        admin = admin_client(settings)
        try:
            startup.remember_identity(tabledir, startup.cluster_identity(admin, changelog_topics(app)))
        finally:
            admin.close()
    except Exception as exc:  # the next start then rebuilds: safe, only slower
        (tabledir / CLEAN_MARKER).unlink(missing_ok=True)
        print(f"worker: could not record the changelogs' identity ({exc!r}); the next start rebuilds",
              file=sys.stderr, flush=True)
