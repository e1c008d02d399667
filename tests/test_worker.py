"""The worker's start after an unclean stop, without a broker: a clear error, and the local
tables stay untrusted until a rebuild completes; and what it refuses to start with."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from processors.engine.app import build_app
from processors.engine.worker import CLEAN_MARKER, stopped_uncleanly
from schemas.settings import Settings
from harness.processes import REPO, free_port, settings_env


def test_a_clean_mark_is_consumed_once(tmp_path: Path) -> None:
    tables = tmp_path / "tables"
    assert not stopped_uncleanly(tables)  # nothing local: nothing to distrust
    (tables / "complaints-0.db").mkdir(parents=True)
    (tables / CLEAN_MARKER).touch()
    assert not stopped_uncleanly(tables)
    assert stopped_uncleanly(tables)  # the mark is gone: a run that dies now was unclean


@pytest.mark.integration
def test_a_rebuild_without_kafka_fails_clearly_and_is_retried(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    settings = replace(Settings.from_env(), kafka_bootstrap=f"127.0.0.1:{closed}",
                       faust_data_dir=str(tmp_path / "faust"), worker_metrics_port=free_port())
    tables = Path(build_app(settings).conf.tabledir)
    (tables / "complaints-0.db").mkdir(parents=True)  # left by a crashed run, no clean mark

    for _ in range(2):
        run = subprocess.run([sys.executable, "-m", "processors", "worker"], cwd=REPO, env=settings_env(settings),
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 1
        assert f"worker: cannot start: cannot reach Kafka at 127.0.0.1:{closed}" in run.stderr
        assert "Traceback" not in run.stderr
        # Nothing was trusted or rebuilt: the next start distrusts them again.
        assert (tables / "complaints-0.db").exists() and not (tables / CLEAN_MARKER).exists()


def test_local_tables_stay_trusted_when_a_table_is_no_longer_kept(tmp_path: Path) -> None:
    """The deadline index left its table (issue #17): its changelog, remembered from before,
    is not a reason to distrust the others; a kept table's changelog gone or recreated is."""
    from processors.engine.startup import remember_identity, untrusted_because

    kept, dropped = "complaints-router-complaints-changelog", "complaints-router-deadlines-changelog"
    remember_identity(tmp_path, {"cluster_id": "c1", "topics": {kept: "id-1", dropped: "id-2"}})
    now = {"cluster_id": "c1", "changelogs": [kept], "topics": {kept: "id-1"}}
    assert untrusted_because(tmp_path, now) is None
    assert "deleted and created again" in untrusted_because(tmp_path, {**now, "topics": {kept: "id-9"}})
    assert "was deleted" in untrusted_because(tmp_path, {**now, "topics": {}})
