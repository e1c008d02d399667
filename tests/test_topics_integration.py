"""`python -m processors topics [--delete]` against the real broker."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import replace

import pytest
from kafka.admin import KafkaAdminClient

from processors.ops.topics import desired_topics
from schemas.topics import Topics
from harness.processes import REPO, settings_env

pytestmark = pytest.mark.integration


def topics_cli(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "processors", "topics", *args], cwd=REPO,
                          env=settings_env(settings), capture_output=True, text=True, timeout=120)


def listed(settings) -> set[str]:
    admin = KafkaAdminClient(**settings.kafka_python("admin"))
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def test_topics_are_created_then_deleted_for_one_prefix_only(kafka):
    run = uuid.uuid4().hex[:8]
    scratch = replace(kafka, topic_prefix=f"scratch-{run}.", faust_app_id=f"scratch-{run}.router")
    created = topics_cli(scratch)
    assert created.returncode == 0, created.stderr
    mine = {t for t in listed(kafka) if t.startswith(scratch.topic_prefix)}
    assert mine == {t.name for t in desired_topics(scratch)}

    deleted = topics_cli(scratch, "--delete")
    assert deleted.returncode == 0, deleted.stderr
    assert f"{len(mine)} deleted" in deleted.stdout
    deadline = time.monotonic() + 15  # deletion is asynchronous in the broker's metadata
    remaining = listed(kafka)
    while any(t.startswith(scratch.topic_prefix) for t in remaining) and time.monotonic() < deadline:
        time.sleep(0.5)
        remaining = listed(kafka)
    assert not {t for t in remaining if t.startswith(scratch.topic_prefix)}
    assert Topics(kafka.topic_prefix).submitted in remaining, "another prefix's topics are left alone"


def test_delete_is_refused_without_a_prefix(kafka):
    refused = topics_cli(replace(kafka, topic_prefix=""), "--delete")
    assert refused.returncode == 2
    assert "needs TOPIC_PREFIX" in refused.stderr


def test_a_replication_factor_the_cluster_cannot_hold_is_refused_in_one_line(kafka):
    """The local stack has one broker: three replicas cannot be placed. Nothing is created."""
    run = uuid.uuid4().hex[:8]
    scratch = replace(kafka, topic_prefix=f"scratch-{run}.", faust_app_id=f"scratch-{run}.router")
    refused = subprocess.run([sys.executable, "-m", "processors", "topics"], cwd=REPO,
                             env={**settings_env(scratch), "TOPIC_REPLICATION_FACTOR": "3"},
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"topics: TOPIC_REPLICATION_FACTOR is 3 but the cluster at {kafka.kafka_bootstrap} has 1 broker: start more "
        f"brokers (make up BROKERS=3) or leave it unset to size it to the cluster"]
    assert not {t for t in listed(kafka) if t.startswith(scratch.topic_prefix)}
