"""What the worker checks before it starts, so that it fails at start with a reason, not at
the first rebalance or crash.

- The faust-streaming and aiokafka internals that processors/engine/eos.py, delivery.py,
  recovery.py and changelogs.py rely on are where those modules expect them (an upgrade
  that moves one fails here).
- The input topics have the partition count the worker is configured with: re-keying and
  the tables' partitions are computed from it (a mismatch re-published records for ever).
- The local tables belong to this cluster and these changelog topics: after the broker's
  data was wiped, or a changelog was deleted and created again, the offsets they record
  mean nothing, and they are rebuilt from the changelogs (processors/engine/worker.py).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiokafka
import faust
from aiokafka.producer.transaction_manager import TransactionManager as AIOTransactionManager
from faust.stores.rocksdb import Store as RocksDBStore
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport import consumer as faust_consumer
from faust.transport.conductor import Conductor
from faust.transport.drivers import aiokafka as aiokafka_driver
from kafka.admin import KafkaAdminClient

from schemas.settings import Settings

SUPPORTED = {"faust-streaming": ("0.15.",), "aiokafka": ("0.14.",)}
IDENTITY_FILE = ".identity.json"

# (class, names): every name the workarounds read, call or override on it.
RELIED_ON: list[tuple[type, tuple[str, ...]]] = [
    (faust_consumer.Consumer, ("_acked", "_committed_offset", "_read_offset", "_gap", "_paused_partitions",
                               "wait_empty", "maybe_wait_for_commit_to_finish", "force_commit", "commit",
                               "stop_flow", "resume_flow", "perform_seek", "resume_partitions",
                               "_is_changelog_tp", "on_partitions_revoked", "assignment", "highwater",
                               # processors/engine/delivery.py: the fetch loop and the ack bookkeeping
                               "_drain_messages", "_wait_next_records", "_add_gap", "_acked_index",
                               "_unacked_messages", "_buffered_partitions", "_waiting_for_ack", "_commit_every",
                               "_n_acked", "_to_message", "scheduler", "callback", "flow_active", "suspend_flow",
                               "wait_first", "position")),
    (Conductor, ("_tp_to_callback_lock", "_tp_index", "acks_enabled_for", "add")),
    (aiokafka_driver.Consumer, ("on_partitions_revoked", "_new_consumer_thread")),
    # processors/engine/eos.py, TunedConsumerThread: the worker consumer's fetch settings
    (aiokafka_driver.AIOKafkaConsumerThread, ("_create_worker_consumer",)),
    (aiokafka.AIOKafkaConsumer, ("_fetch_min_bytes", "_fetch_max_wait_ms")),
    (aiokafka_driver.Producer, ("_trn_locks", "_transaction_producers", "_settings_extra", "commit_transactions",
                                "__post_init__")),
    (aiokafka_driver.Transport, ("Producer", "Consumer")),
    (AIOTransactionManager, ("is_in_transaction", "state", "_txn_partitions", "_pending_txn_partitions",
                             "_pending_txn_offsets", "_pid_and_epoch")),
    (Recovery, ("on_recovery_completed", "_build_highwaters", "_build_offsets", "_highwater_logtable",
                "_set_recovery_ended", "actives_for_table", "standbys_for_table", "tp_to_table", "_wait",
                "completed", "in_recovery", "_is_changelog_tp")),
    (TableManager, ("_recovery", "on_commit", "recovery")),
    (RocksDBStore, ("_dbs", "_db_for_partition", "offset_key", "partition_path", "set_persisted_offset",
                    "rocksdb_options")),
]


class CannotStart(Exception):
    """The worker must not start; the message says why and what to do."""


def _has(cls: type, name: str) -> bool:
    if hasattr(cls, name):
        return True
    if any(name in getattr(k, "__annotations__", {}) for k in cls.__mro__):
        return True
    init = getattr(cls, "__init__", None)  # attributes set only in __init__, unannotated
    code = getattr(init, "__code__", None)
    return code is not None and name in code.co_names


def check_libraries() -> None:
    versions = {"faust-streaming": faust.__version__, "aiokafka": aiokafka.__version__}
    for package, version in versions.items():
        if not version.startswith(SUPPORTED[package]):
            raise CannotStart(f"{package} {version} is installed; the exactly-once workarounds were written for "
                              f"{'/'.join(p + 'x' for p in SUPPORTED[package])} (see docs/exactly-once.md)")
    missing = [f"{cls.__module__}.{cls.__qualname__}.{name}" for cls, names in RELIED_ON for name in names
               if not _has(cls, name)]
    if missing:
        raise CannotStart(f"faust-streaming {faust.__version__} / aiokafka {aiokafka.__version__} lack what the "
                          f"exactly-once workarounds rely on: {', '.join(missing)} (see docs/exactly-once.md)")


def check_partitions(admin: KafkaAdminClient, settings: Settings, settle_s: float = 30.0,
                     sleep: Callable[[float], None] = time.sleep) -> None:
    """The keyed topics have TOPIC_PARTITIONS partitions. Right after `processors topics`
    created them, the broker's metadata may list a topic with no partitions, or not at all:
    that is "not yet", retried for up to `settle_s` (the wait is logged); only a count that
    differs is "wrong", refused at once."""
    topics = settings.topics
    # The outputs too: routed complaints, escalations and verdicts go to the source's partition.
    keyed_alike = [topics.submitted, *topics.resolution_inputs(), *topics.routed_outputs(), topics.escalations,
                   topics.verdicts]
    deadline = time.monotonic() + settle_s
    announced = False
    while True:
        counts = {t["name"]: len(t.get("partitions") or ()) for t in admin.describe_topics(keyed_alike)
                  if not t.get("error_code")}
        wrong = {name: n for name, n in counts.items() if n and n != settings.partitions}
        if wrong:
            names = sorted(wrong, key=keyed_alike.index)
            found = ", ".join(f"{name} has {wrong[name]}" for name in names[:3])
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            raise CannotStart(f"TOPIC_PARTITIONS is {settings.partitions} but {found}{more}: set TOPIC_PARTITIONS "
                              f"to the topics' partition count")
        unsettled = [name for name in keyed_alike if not counts.get(name)]
        if not unsettled:
            return
        if time.monotonic() >= deadline:
            raise CannotStart(f"{len(unsettled)} topics are not listed with partitions after {settle_s:.0f} s "
                              f"({', '.join(unsettled[:3])}{', ...' if len(unsettled) > 3 else ''}): "
                              f"run python -m processors topics")
        if not announced:
            print(f"worker: waiting for the broker's metadata of {len(unsettled)} topics (just created?)",
                  file=sys.stderr, flush=True)
            announced = True
        sleep(0.5)


def cluster_identity(admin: KafkaAdminClient, changelogs: Iterable[str]) -> dict[str, Any]:
    """The cluster id and the topic id of every changelog of the app's tables that exists."""
    names = sorted(changelogs)
    described = admin.describe_topics(names)
    return {"cluster_id": admin.describe_cluster()["cluster_id"], "changelogs": names,
            "topics": {t["name"]: str(t["topic_id"]) for t in described if t.get("error_code", 0) == 0}}


def untrusted_because(tabledir: Path, identity: dict[str, Any]) -> str | None:
    """Why the local tables under `tabledir` cannot be trusted against `identity`, or None."""
    path = tabledir / IDENTITY_FILE
    if not path.exists():
        return None
    known = json.loads(path.read_text())
    if known.get("cluster_id") != identity["cluster_id"]:
        return f"they were built from Kafka cluster {known.get('cluster_id')}, this is {identity['cluster_id']}"
    for topic, topic_id in known.get("topics", {}).items():
        if topic not in identity.get("changelogs", identity["topics"]):
            continue  # a table the worker no longer keeps (the deadline index, before #17)
        now = identity["topics"].get(topic)
        if now != topic_id:
            return f"changelog {topic} was {'deleted' if now is None else 'deleted and created again'} since"
    return None


def remember_identity(tabledir: Path, identity: dict[str, Any]) -> None:
    tabledir.mkdir(parents=True, exist_ok=True)
    (tabledir / IDENTITY_FILE).write_text(json.dumps(identity, indent=1))
