"""Started means ready: topics created and a worker started at once never refuse; a worker that
cannot start stops `make up` with its reason. On the real broker."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
import uuid
from dataclasses import replace

import pytest

from harness.processes import REPO, Process, free_port, settings_env
from processors.engine.startup import check_partitions
from processors.ops.topics import delete_topics, ensure_topics
from processors.engine.worker import admin_client

pytestmark = pytest.mark.integration


def fresh(kafka, **changes):
    run = uuid.uuid4().hex[:8]
    return replace(kafka, topic_prefix=f"start-{run}.", faust_app_id=f"start-{run}.router", **changes)


def test_topics_created_and_checked_in_the_same_second_twenty_times(kafka):
    """What failed 2 starts in 14: the metadata of topics just made listed no partitions yet."""
    for _ in range(20):
        settings = fresh(kafka)
        try:
            started = time.monotonic()
            ensure_topics(settings)
            admin = admin_client(settings)
            try:
                check_partitions(admin, settings)  # raises CannotStart on a refusal
            finally:
                admin.close()
            assert time.monotonic() - started < 30
        finally:
            delete_topics(settings)


def test_a_worker_started_right_after_its_topics_is_ready(kafka, tmp_path):
    settings = fresh(kafka, faust_data_dir=str(tmp_path / "faust"), worker_metrics_port=free_port())
    ensure_topics(settings)
    worker = Process(["processors", "worker"], settings, tmp_path / "worker.log", ready_line="Worker ready")
    try:
        worker.start()
        url = f"http://127.0.0.1:{settings.worker_metrics_port}/ready"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(url, timeout=2).status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        assert urllib.request.urlopen(url, timeout=2).read() == b"ready\n"
        assert "cannot start" not in worker.tail()
    finally:
        worker.stop()
        delete_topics(settings)


def test_make_up_names_a_worker_that_cannot_start_and_exits_non_zero(kafka, tmp_path):
    settings = fresh(kafka, faust_data_dir=str(tmp_path / "faust"), worker_metrics_port=free_port())
    ensure_topics(settings)  # TOPIC_PARTITIONS of the tests: 3
    env = settings_env(settings)
    env.update(TOPIC_PARTITIONS="4", RUN_DIR=str(tmp_path / "run"), READY_TIMEOUT_S="60")
    try:
        done = subprocess.run(["make", "up"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    finally:
        delete_topics(settings)
    assert done.returncode != 0
    [line] = [line for line in done.stderr.splitlines() if line.startswith("worker: exited while starting")]
    assert "TOPIC_PARTITIONS is 4 but" in line and "has 3" in line, done.stderr
    assert "worker: started" not in done.stdout + done.stderr
    assert not (tmp_path / "run" / "worker.pid").exists() and os.path.isdir(tmp_path / "run" / "logs")
