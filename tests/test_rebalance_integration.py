"""Several workers in one group on the real broker: the result is that of one worker.

A worker joining mid-load and one of two killed with SIGKILL: every complaint routed once,
every overdue complaint escalated once, as a read_committed consumer sees it (issue #13;
`make chaos` runs more of these with larger loads). And what a worker refuses to start
with, or discards instead of crashing on.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from processors.ops.readback import read_committed
from producers.client import ComplaintPublisher
from producers.generator import ComplaintFactory, GeneratorConfig
from schemas.settings import Settings
from schemas.topics import Topics
from harness.processes import free_port, metric_value

pytestmark = pytest.mark.integration

LOAD = 3000


@pytest.fixture
def group(kafka: Settings, scratch_topics) -> Settings:
    """Topics and a consumer group of their own: no other test's backlog or members."""
    prefix = f"{kafka.topic_prefix}rb{uuid.uuid4().hex[:6]}."
    return scratch_topics(replace(kafka, topic_prefix=prefix, faust_app_id=f"{prefix}router", commit_interval_s=0.5))


def member(settings: Settings, tmp_path: Path, name: str) -> Settings:
    return replace(settings, faust_data_dir=str(tmp_path / name), worker_metrics_port=free_port())


def overdue_count(n: int) -> int:
    return n // 10 or n  # a tenth (all of a tiny batch) recorded 49 h ago: escalated on arrival


def load(n: int) -> list[dict]:
    factory = ComplaintFactory(GeneratorConfig(seed=13, id_prefix=f"R{uuid.uuid4().hex[:6]}", retry_share=0,
                                               malformed_share=0, early_resolution_share=0))
    now = dt.datetime.now(dt.timezone.utc)
    batch = [factory.complaint(now) for _ in range(n)]
    for c in batch[:overdue_count(n)]:
        c["recorded_at"] = (now - dt.timedelta(hours=49)).isoformat()
    return batch


def publish_in_background(settings: Settings, batch: list[dict]) -> threading.Thread:
    def send() -> None:
        with ComplaintPublisher(settings) as pub:
            for c in batch:
                pub.publish_complaint(c, wait=False)
            pub.flush()

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def received(workers) -> float:
    total = 0.0
    for w in workers:
        if w.alive():
            total += metric_value(w.metrics(w.settings.worker_metrics_port), "complaints_received_total")
    return total


def wait_until_received(workers, n: float, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while received(workers) < n:
        assert time.monotonic() < deadline, f"the workers read fewer than {n} events in {timeout_s} s"
        time.sleep(0.1)


def outcome(settings: Settings, batch: list[dict], timeout_s: float = 150) -> tuple[Counter, Counter]:
    """How often each complaint was routed and each overdue one escalated, once all are out."""
    topics = settings.topics
    ids = {c["complaint_id"] for c in batch}
    overdue = {c["complaint_id"] for c in batch[:overdue_count(len(batch))]}
    deadline = time.monotonic() + timeout_s
    while True:
        routed = Counter(r.key.decode() for r in read_committed(topics.routed_outputs(), settings))
        escalated = Counter(r.key.decode() for r in read_committed([topics.escalations], settings))
        if (ids <= set(routed) and overdue <= set(escalated)) or time.monotonic() > deadline:
            return routed, escalated
        time.sleep(1)


def assert_exactly_once(settings: Settings, batch: list[dict]) -> None:
    routed, escalated = outcome(settings, batch)
    ids = [c["complaint_id"] for c in batch]
    overdue = ids[:overdue_count(len(ids))]
    lost = [cid for cid in ids if routed[cid] == 0]
    duplicated = [cid for cid in ids if routed[cid] > 1]
    esc_lost = [cid for cid in overdue if escalated[cid] == 0]
    esc_duplicated = [cid for cid in overdue if escalated[cid] > 1]
    assert (len(lost), len(duplicated), len(esc_lost), len(esc_duplicated)) == (0, 0, 0, 0), \
        f"lost {len(lost)}, duplicated {len(duplicated)}, escalations lost {len(esc_lost)}, " \
        f"escalations duplicated {len(esc_duplicated)}"
    not_due = set(ids[len(overdue):]) & set(escalated)
    assert not not_due, "complaints not yet due were escalated"


def test_a_worker_joining_mid_load_changes_nothing_in_the_result(group, worker_factory, tmp_path):
    first = worker_factory(member(group, tmp_path, "first"), name="first")
    batch = load(LOAD)
    sender = publish_in_background(group, batch)
    wait_until_received([first], LOAD / 3)
    second = worker_factory(member(group, tmp_path, "second"), name="second")
    sender.join()
    after = load(LOAD // 10)  # sent once both share the partitions
    publish_in_background(group, after).join()
    assert_exactly_once(group, batch)
    assert_exactly_once(group, after)
    assert first.alive() and second.alive(), "no worker dies of a rebalance"
    assert received([second]) > 0, "the partitions were shared after the join"


def test_one_of_two_workers_killed_leaves_the_other_to_finish_everything(group, worker_factory, tmp_path):
    survivor = worker_factory(member(group, tmp_path, "survivor"), name="survivor")
    victim = worker_factory(member(group, tmp_path, "victim"), name="victim")
    batch = load(LOAD)
    sender = publish_in_background(group, batch)
    wait_until_received([survivor, victim], LOAD / 3)
    victim.kill()  # its partitions move to the survivor after the session timeout
    sender.join()
    assert_exactly_once(group, batch)
    assert survivor.alive(), "the survivor took the partitions over and is still up"


def test_a_worker_refuses_a_partition_count_that_differs_from_the_topics(group, tmp_path):
    import subprocess
    import sys

    from harness.processes import REPO, settings_env

    wrong = replace(member(group, tmp_path, "wrong"), partitions=group.partitions + 1)
    run = subprocess.run([sys.executable, "-m", "processors", "worker"], cwd=REPO, env=settings_env(wrong),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert f"TOPIC_PARTITIONS is {group.partitions + 1}" in run.stderr
    assert f"{Topics(group.topic_prefix).submitted} has {group.partitions}" in run.stderr


def routed_then_stopped(group: Settings, worker_factory, settings: Settings, name: str) -> dict:
    """A worker routes one complaint and stops cleanly; returns the complaint."""
    worker = worker_factory(settings, name=name)
    c = load(1)[0]
    with ComplaintPublisher(group) as pub:
        pub.publish_complaint(c)
    outcome(group, [c])
    assert worker.stop() == 0
    return c


def test_tables_of_another_cluster_are_discarded_and_recovered_not_trusted(group, worker_factory, tmp_path):
    settings = member(group, tmp_path, "moved")
    c = routed_then_stopped(group, worker_factory, settings, "moved")
    identity_file = next(Path(settings.faust_data_dir).rglob(".identity.json"))
    identity = json.loads(identity_file.read_text())
    identity["cluster_id"] = "another-cluster"  # as after the broker's data was wiped
    identity_file.write_text(json.dumps(identity))

    restarted = worker_factory(settings, name="moved")
    log = restarted.log.read_text()
    assert "discarded" in log and "another-cluster" in log
    # Recovered from the changelogs, the tables still know the complaint: sent again, it is
    # a retry, not routed twice.
    with ComplaintPublisher(group) as pub:
        pub.publish_complaint(c)
    deadline = time.monotonic() + 30
    while metric_value(restarted.metrics(settings.worker_metrics_port), "complaints_retries_skipped_total") < 1:
        assert time.monotonic() < deadline, "the retry was not recognised"
        time.sleep(0.2)
    routed, _ = outcome(group, [c])
    assert routed[c["complaint_id"]] == 1


def test_a_table_recording_an_offset_past_the_committed_end_is_discarded_not_fatal(group, worker_factory,
                                                                                   tmp_path):
    from rocksdict import Options, Rdict

    settings = member(group, tmp_path, "ahead")
    c = routed_then_stopped(group, worker_factory, settings, "ahead")
    tables = next(Path(settings.faust_data_dir).rglob("tables"))
    for path in tables.glob("complaints-*.db"):  # as if writes of an aborted transaction were recorded
        db = Rdict(str(path), Options(raw_mode=True))
        try:
            db[b"__faust\0offset__"] = b"999999"
        finally:
            db.close()

    restarted = worker_factory(settings, name="ahead")  # Faust alone stopped with ConsistencyError
    log = restarted.log.read_text()
    assert "past the committed end" in log and "ConsistencyError" not in log
    late = load(1)[0]
    with ComplaintPublisher(group) as pub:
        pub.publish_complaint(late)
        pub.publish_complaint(c)  # a retry: the rebuilt partition must still know it
    routed, _ = outcome(group, [c, late])
    assert routed[late["complaint_id"]] == 1 and routed[c["complaint_id"]] == 1
