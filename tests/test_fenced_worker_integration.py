"""A fenced (zombie) worker rejoins its group instead of exiting.

A worker frozen with SIGSTOP past its session timeout loses its partitions to the other
worker, whose transactions fence the frozen one's. Resumed, it finds its transactions
fenced: it aborts what it had open, drops the local tables it can no longer trust, rebuilds
them from the changelogs and joins the group again, in the same process. Every complaint is
routed once and every overdue one escalated once, as a read_committed consumer sees it.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request

import pytest

from harness.processes import metric_value
from tests.test_rebalance_integration import (LOAD, assert_exactly_once, group, load, member,  # noqa: F401
                                              publish_in_background, received, wait_until_received)

pytestmark = pytest.mark.integration


def rejoining(worker) -> bool:
    return "rejoining the group" in worker.log.read_text(errors="replace")


def ready(worker) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.settings.worker_metrics_port}/ready", timeout=5) as r:
            return r.status == 200
    except OSError:  # 503 while it recovers
        return False


def test_a_worker_frozen_past_its_session_rejoins_without_exiting(group, worker_factory, tmp_path):  # noqa: F811
    other = worker_factory(member(group, tmp_path, "other"), name="other")
    frozen = worker_factory(member(group, tmp_path, "frozen"), name="frozen")
    pid = frozen.proc.pid
    batch = load(LOAD)
    sender = publish_in_background(group, batch)
    wait_until_received([other, frozen], LOAD / 3)
    os.kill(pid, signal.SIGSTOP)
    time.sleep(group.session_timeout_s + 10)  # the group moves on: the other worker owns everything
    os.kill(pid, signal.SIGCONT)
    sender.join()
    assert_exactly_once(group, batch)
    deadline = time.monotonic() + 120
    while not (rejoining(frozen) and ready(frozen)):  # fenced, tables rebuilt, a member again
        assert frozen.alive(), f"the fenced worker exited:\n{frozen.tail()}"
        assert time.monotonic() < deadline, f"the fenced worker did not rejoin in 120 s:\n{frozen.tail()}"
        time.sleep(1)
    assert frozen.proc.pid == pid
    metrics = frozen.metrics(frozen.settings.worker_metrics_port)
    assert metric_value(metrics, "complaints_worker_rejoins_total") >= 1
    # Rejoined, it takes its share of what comes next; the result is still that of one worker.
    before = received([frozen])
    after = load(LOAD // 5)
    publish_in_background(group, after).join()
    assert_exactly_once(group, after)
    assert other.alive() and frozen.alive()
    assert received([frozen]) > before, "the rejoined worker was given partitions again"
