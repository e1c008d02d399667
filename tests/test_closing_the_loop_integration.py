"""Closing the loop, first part: a result tells the citizen what was done and says how the
record is corrected; the CLI sends both, the worker counts the result, the record keeps them,
and the citizen's lookup shows the response. (complaints.status and record-corrections:
not yet.)"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import psycopg2
import pytest

from harness.processes import REPO, settings_env
from offices.present import open311
from offices.queries import status
from producers.client import ComplaintPublisher
from schemas.admin_units import load
from schemas.times import utcnow
from tests.fixtures import complaint

pytestmark = pytest.mark.integration

RESPONSE = "Đã bổ sung mũi 2 (Comirnaty, 01/10/2021) và sửa số lô mũi 1."


def resolve(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "producers", "resolve", *args], cwd=REPO, env=settings_env(settings),
                          capture_output=True, text=True, timeout=120)


def test_a_result_with_a_response_and_two_corrections_reaches_the_record_and_the_lookup(
        database, worker_factory, sink_factory):
    worker_factory(database)
    sink_factory()
    cid = f"C-loop-{uuid.uuid4().hex[:10]}"
    with ComplaintPublisher(database) as pub:
        pub.publish_complaint(complaint(cid, province="79"))

    refused = resolve(database, cid, "--level", "province", "--unit", "79", "--outcome", "rejected",
                      "--correction", "add:2:Comirnaty:2021-10-01")
    assert refused.returncode == 2 and "only with outcome updated" in refused.stderr

    done = resolve(database, cid, "--level", "province", "--unit", "79", "--outcome", "updated",
                   "--response", RESPONSE, "--correction", "add:2:Comirnaty:2021-10-01",
                   "--correction", "replace:1:Vero Cell:2021-08-02:L123")
    assert done.returncode == 0, done.stderr

    deadline, row = time.monotonic() + 60, None
    while time.monotonic() < deadline and row is None:
        with psycopg2.connect(database.database_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT payload FROM accepted_resolutions WHERE complaint_id = %s", (cid,))
            row = cur.fetchone()
        time.sleep(0.5)
    assert row is not None, "the result was not counted into the record"
    payload = row[0]
    assert payload["response"] == RESPONSE
    assert [(c["action"], c["dose_number"]) for c in payload["corrections"]] == [("add", 2), ("replace", 1)]
    assert payload["corrections"][1]["lot_number"] == "L123"

    with psycopg2.connect(database.database_url) as conn:
        found = status(conn, cid)
    answer = open311(found, load(database.admin_map), utcnow())
    assert answer["status"] == "closed" and answer["status_notes"].endswith(RESPONSE)
