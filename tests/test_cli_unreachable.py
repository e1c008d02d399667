"""The command lines against a Kafka or PostgreSQL that cannot be reached: one line saying
what, where and what to run, exit code 2, no traceback (nothing listens on the ports)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from schemas.settings import Settings
from harness.processes import REPO, free_port, settings_env

pytestmark = pytest.mark.integration


def run(args: list[str], **settings_changes) -> subprocess.CompletedProcess:
    settings = replace(Settings.from_env(), **settings_changes)
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=settings_env(settings),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [
    ["producers", "grant", "490"],
    ["producers", "resolve", "C-1", "--level", "district", "--unit", "760", "--outcome", "updated"],
    ["processors", "topics"],
    ["processors", "summary"],
])
def test_an_unreachable_kafka_is_one_line(args):
    address = f"127.0.0.1:{free_port()}"
    done = run(args, kafka_bootstrap=address)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"{args[0]}: cannot reach Kafka at {address} (KafkaTimeoutError); "
        "start the local stack with `make up`, or set KAFKA_BOOTSTRAP"]


def test_an_unreachable_postgresql_is_one_line_without_the_password():
    port = free_port()
    done = run(["sinks", "report", "sla"], database_url=f"postgresql://someone:s3cret@127.0.0.1:{port}/records")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"sinks: cannot reach PostgreSQL at 127.0.0.1:{port}/records (")
    assert "s3cret" not in line and "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [["producers", "grant", "490"], ["processors", "summary"], ["processors", "worker"],
                                  ["sinks", "postgres"]])
def test_a_client_properties_file_that_cannot_be_honoured_is_one_line(args, tmp_path):
    path = tmp_path / "office-79.properties"
    path.write_text("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
                    "sasl.jaas.config=ScramLoginModule required username=\"office-79\" password=\"s3cret\";\n"
                    "ssl.keystore.password=s3cret\n")
    done = run(args, kafka_client_properties=str(path), kafka_bootstrap=f"127.0.0.1:{free_port()}",
               worker_metrics_port=free_port(), sink_metrics_port=free_port(),
               faust_data_dir=str(tmp_path / "faust"))  # never the deployment's tables
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr
    assert f"unsupported client setting(s) in {path}: ssl.keystore.password" in done.stderr
    assert "s3cret" not in done.stderr
