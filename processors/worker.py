"""Runs the Faust worker: `python -m processors worker`.

RocksDB writes land on disk before their Kafka transaction commits. After a crash the
local tables may therefore hold writes whose transaction was aborted (a complaint marked
routed whose routed event never became visible). So local table state is trusted only
after a clean shutdown; otherwise it is rebuilt from the changelog topics, read
read_committed, before the worker starts (processors/changelogs.py).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import faust
import mode.loop
from faust.worker import Worker

from processors import metrics
from processors.app import build_app
from processors.changelogs import rebuild_tables
from schemas.settings import Settings

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


def run(loglevel: str = "info") -> int:
    settings = Settings.from_env()
    mode.loop.use(settings.faust_loop)  # before anything creates a loop
    Path(settings.faust_data_dir).mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = build_app(settings)
    tabledir = Path(app.conf.tabledir)
    if stopped_uncleanly(tabledir):
        print(f"worker: previous run did not stop cleanly; rebuilding tables from changelogs ({tabledir})",
              file=sys.stderr, flush=True)
        try:
            rebuilt = rebuild_tables(app, settings.kafka_bootstrap, settings.partitions)
        except Exception as exc:  # the next start rebuilds again: nothing is trusted until one completes
            print(f"worker: cannot rebuild the tables from Kafka at {settings.kafka_bootstrap}: {exc!r}",
                  file=sys.stderr, flush=True)
            return 1
        print(f"worker: rebuilt {rebuilt.partitions} table partitions from {rebuilt.records:,} changelog records "
              f"in {rebuilt.seconds:.1f} s", file=sys.stderr, flush=True)
    metrics.serve(settings.worker_metrics_port, settings.metrics_host)
    worker = DiagnosticWorker(app, loglevel=loglevel, quiet=True, override_logging=True)
    code = 1
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if code == 0:
        tabledir.mkdir(parents=True, exist_ok=True)
        (tabledir / CLEAN_MARKER).touch()
    return code
