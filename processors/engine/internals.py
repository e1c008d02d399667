"""The faust-streaming, aiokafka and mode internals the engine relies on, held exactly.

The engine replaces or extends parts of those libraries (docs/exactly-once.md). It runs only
on the versions it was verified with (PINS, also pinned in pyproject.toml), and every upstream
name it reads, calls or overrides is listed in RELIED_ON: a method by the hash of its
signature and source (internals.lock.json), an attribute by where it is defined. The worker
checks all of it before it starts (`check()`); tests/test_internals.py walks the engine's
code and fails on a private name or an override not listed here.

After verifying the engine on a new release: update PINS and pyproject.toml, then
`python -m processors.engine.internals lock` and review the diff of internals.lock.json.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import sys
import textwrap
from functools import cache
from importlib.metadata import version
from pathlib import Path

import aiokafka
import faust
import mode
from aiokafka.consumer.fetcher import Fetcher as AIOFetcher
from aiokafka.producer.transaction_manager import TransactionManager as AIOTransactionManager
from aiokafka.protocol.fetch import FetchRequest as AIOFetchRequest
from faust.stores.rocksdb import Store as RocksDBStore
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport import consumer as faust_consumer
from faust.transport.conductor import Conductor
from faust.transport.drivers import aiokafka as aiokafka_driver

PINS = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0", "mode-streaming": "0.7.1"}

LOCK = Path(__file__).with_name("internals.lock.json")

# (class, names): every upstream name the engine reads, calls or overrides on it.
RELIED_ON: list[tuple[type, tuple[str, ...]]] = [
    (faust_consumer.Consumer, ("_acked", "_committed_offset", "_read_offset", "_gap", "_paused_partitions",
                               "wait_empty", "maybe_wait_for_commit_to_finish", "force_commit", "commit",
                               "stop_flow", "resume_flow", "perform_seek", "resume_partitions",
                               "_is_changelog_tp", "on_partitions_revoked", "assignment", "highwater",
                               # processors/engine/delivery.py: the fetch loop and the ack bookkeeping
                               "_drain_messages", "_wait_next_records", "_add_gap", "_acked_index",
                               "_unacked_messages", "_buffered_partitions", "_waiting_for_ack", "_commit_every",
                               "_n_acked", "_to_message", "scheduler", "callback", "flow_active", "suspend_flow",
                               "wait_first", "position", "ack", "getmany", "on_partitions_assigned")),
    (Conductor, ("_tp_to_callback_lock", "_tp_index", "acks_enabled_for", "add")),
    (faust_consumer.ThreadDelegateConsumer, ("__init__",)),
    (aiokafka_driver.Consumer, ("on_partitions_revoked", "_new_consumer_thread", "position", "on_stop")),
    # processors/engine/eos.py, TunedConsumerThread, and processors/engine/fetching.py: each
    # fetch's wait, set on the request the fetcher built, from what the last one returned
    (aiokafka_driver.AIOKafkaConsumerThread, ("on_start", "_consumer")),
    (aiokafka.AIOKafkaConsumer, ("_fetcher", "_client")),
    (AIOFetcher, ("_get_actions_per_node", "_proc_fetch_request")),
    (AIOFetchRequest, ("_min_bytes", "_max_wait_ms")),
    (aiokafka.AIOKafkaProducer, ("_txn_manager",)),
    (aiokafka_driver.Producer, ("_trn_locks", "_transaction_producers", "_settings_extra", "commit_transactions",
                                "__post_init__")),
    (aiokafka_driver.Transport, ("Producer", "Consumer")),
    (AIOTransactionManager, ("is_in_transaction", "state", "_txn_partitions", "_pending_txn_partitions",
                             "_pending_txn_offsets", "_pid_and_epoch")),
    (Recovery, ("on_recovery_completed", "_build_highwaters", "_build_offsets", "_highwater_logtable",
                "_set_recovery_ended", "actives_for_table", "standbys_for_table", "tp_to_table", "_wait",
                "completed", "in_recovery", "_is_changelog_tp", "active_highwaters")),
    (TableManager, ("_recovery", "on_commit", "recovery", "on_actives_ready", "on_standbys_ready")),
    (RocksDBStore, ("_dbs", "_db_for_partition", "offset_key", "partition_path", "set_persisted_offset",
                    "rocksdb_options", "_key_index")),
    (faust.App, ("__init__", "_fetcher", "on_rebalance_end", "assignor", "in_transaction", "client_only")),
    (mode.Service, ("_stopped", "on_start", "on_stop")),
    (mode.Worker, ("_on_sigusr1",)),  # processors/engine/worker.py: the diagnostic dump
]


def where(cls: type, name: str) -> type | None:
    """The class of cls's MRO that defines `name`: as a class attribute, an annotation, or an
    assignment to self.<name> in one of its methods; None when none does."""
    for klass in cls.__mro__:
        if name in vars(klass) or name in getattr(klass, "__annotations__", {}):
            return klass
    for klass in cls.__mro__:
        if name in instance_attributes(klass):
            return klass
    return None


@cache
def instance_attributes(klass: type) -> frozenset[str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
    except (OSError, TypeError):  # a builtin or C extension: no source
        return frozenset()
    return frozenset(assigned_on_self(tree))


def assigned_on_self(tree: ast.AST) -> set[str]:
    """The attributes code assigns as `self.<name> = ...`."""
    return {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name) and node.value.id == "self"}


def key(cls: type, name: str) -> str:
    return f"{cls.__module__}.{cls.__qualname__}.{name}"


def fingerprint(cls: type, name: str) -> str | None:
    """sha256 of the signature and source of the method `name` as cls has it (a property's
    getter), of the value of a constant (a format, such as RocksDB's persisted-offset key),
    or None for an attribute set per instance."""
    owner = where(cls, name)
    value = vars(owner).get(name) if owner else None
    if isinstance(value, (bytes, str, int, float)) and not isinstance(value, bool):
        return hashlib.sha256(f"{owner.__module__}.{owner.__qualname__}.{name}={value!r}".encode()).hexdigest()
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        value = value.fget
    if not inspect.isfunction(value):
        return None
    try:
        signature = str(inspect.signature(value))
    except (TypeError, ValueError):
        signature = "?"
    source = inspect.getsource(value)
    return hashlib.sha256(f"{owner.__module__}.{owner.__qualname__}{signature}\n{source}".encode()).hexdigest()


def fingerprints() -> dict[str, str]:
    return {key(cls, name): fp for cls, names in RELIED_ON for name in names
            if (fp := fingerprint(cls, name)) is not None}


def problems(installed: dict[str, str] | None = None, locked: dict[str, str] | None = None) -> list[str]:
    """What differs from what the engine was verified with; empty when nothing does."""
    installed = installed or {package: version(package) for package in PINS}
    found = [f"{package} {installed[package]} is installed, the engine was verified with {pinned}"
             for package, pinned in PINS.items() if installed[package] != pinned]
    missing = [key(cls, name) for cls, names in RELIED_ON for name in names if where(cls, name) is None]
    if missing:
        found.append(f"no longer defined: {', '.join(missing)}")
    locked = json.loads(LOCK.read_text()) if locked is None else locked
    now = fingerprints()
    changed = sorted(name for name in locked.keys() | now.keys() if locked.get(name) != now.get(name))
    if changed:
        found.append(f"changed since verified (signature or source): {', '.join(changed)}")
    return found


def main(argv: list[str]) -> int:
    if argv[1:] == ["lock"]:
        held = fingerprints()
        LOCK.write_text(json.dumps(held, indent=1, sort_keys=True) + "\n")
        print(f"{LOCK}: {len(held)} methods")
        return 0
    found = problems()
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
