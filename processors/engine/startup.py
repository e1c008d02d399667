"""What the worker checks before it starts, so that it fails at start with a reason, not at
the first rebalance or crash.

- faust-streaming, aiokafka and mode are the versions the engine was verified with, and
  the internals it relies on are unchanged (processors/engine/internals.py).
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

from kafka.admin import KafkaAdminClient

from processors.engine import internals
from schemas.settings import Settings

IDENTITY_FILE = ".identity.json"

class CannotStart(Exception):
    """The worker must not start; the message says why and what to do."""


def check_libraries() -> None:
    """faust-streaming, aiokafka and mode are the versions the engine was verified with, and
    every internal it relies on is as it was (processors/engine/internals.py)."""
    found = internals.problems()
    if found:
        raise CannotStart(f"the exactly-once engine cannot run on these libraries: {'; '.join(found)} "
                          f"(see docs/exactly-once.md, processors/engine/internals.py)")


def check_partitions(admin: KafkaAdminClient, settings: Settings, settle_s: float = 30.0,
                     sleep: Callable[[float], None] = time.sleep) -> None:
    """The keyed topics have TOPIC_PARTITIONS partitions. Right after `processors topics`
    created them, the broker's metadata may list a topic with no partitions, or not at all:
    that is "not yet", retried for up to `settle_s` (the wait is logged); only a count that
    differs is "wrong", refused at once."""
    topics = settings.topics
    # The outputs too: routed complaints, escalations, verdicts and status changes go to the
    # source's partition.
    keyed_alike = [topics.submitted, *topics.resolution_inputs(), *topics.routed_outputs(), topics.escalations,
                   topics.verdicts, topics.status]
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
