"""The publishing library and `python -m producers` against the real broker."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from producers.client import ComplaintPublisher, InvalidEvent
from processors.ops.readback import read_committed
from schemas.models import ComplaintSubmitted, Delegation
from schemas.topics import Topics
from harness.processes import REPO, settings_env
from tests.fixtures import complaint

pytestmark = pytest.mark.integration


def cli(kafka, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "producers", *args], cwd=REPO, env=settings_env(kafka),
                          input=stdin, capture_output=True, text=True, timeout=120)


def keyed(records, key: str) -> list:
    return [r for r in records if r.key == key.encode()]


def test_library_publishes_valid_events_keyed_by_complaint_id(kafka):
    c = complaint(f"LIB-{uuid.uuid4().hex[:8]}", province="79")
    with ComplaintPublisher(kafka) as pub:
        meta = pub.publish_complaint(c)
    assert meta.topic == Topics(kafka.topic_prefix).submitted
    [record] = keyed(read_committed([meta.topic], kafka), c["complaint_id"])
    assert ComplaintSubmitted.model_validate_json(record.value).complaint_id == c["complaint_id"]


def test_library_refuses_invalid_events_and_sends_nothing(kafka):
    topics = Topics(kafka.topic_prefix)
    cid = f"BAD-{uuid.uuid4().hex[:8]}"
    with ComplaintPublisher(kafka) as pub:
        with pytest.raises(InvalidEvent, match="recorded_at"):
            pub.publish_complaint(complaint(cid, recorded_at="2021-11-08T09:00:00"))
        with pytest.raises(InvalidEvent, match="future"):
            pub.publish_complaint(complaint(cid, recorded_at="2099-01-01T00:00:00+07:00"))
        with pytest.raises(InvalidEvent, match="national_id"):
            pub.publish_complaint(complaint(cid, citizen={**complaint()["citizen"], "national_id": "12"}))
        with pytest.raises(InvalidEvent, match="unit_code"):
            pub.revoke_delegation("1")
    assert keyed(read_committed([topics.submitted], kafka), cid) == []


def test_cli_submit_resolve_grant_revoke(kafka, tmp_path):
    topics = Topics(kafka.topic_prefix)
    a, b = (complaint(f"CLI-{uuid.uuid4().hex[:8]}", province="48") for _ in range(2))
    path = tmp_path / "complaints.jsonl"
    path.write_text(json.dumps(a, ensure_ascii=False) + "\n" + json.dumps(b, ensure_ascii=False) + "\n")
    done = cli(kafka, "submit", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\nsubmitted ") + done.stdout.startswith("submitted ") == 2
    from_stdin = complaint(f"CLI-{uuid.uuid4().hex[:8]}", province="01")
    assert cli(kafka, "submit", stdin=json.dumps(from_stdin)).returncode == 0

    done = cli(kafka, "resolve", a["complaint_id"], "--level", "province", "--unit", "48", "--outcome", "updated")
    assert done.returncode == 0, done.stderr
    assert cli(kafka, "grant", "20194").returncode == 0
    assert cli(kafka, "revoke", "20194").returncode == 0

    submitted = read_committed([topics.submitted], kafka)
    for c in (a, b, from_stdin):
        assert len(keyed(submitted, c["complaint_id"])) == 1
    [resolution] = keyed(read_committed([topics.resolved_by_office("48")], kafka), a["complaint_id"])  # 48's own
    assert json.loads(resolution.value)["resolved_by"] == {"level": "province", "unit_code": "48"}
    grant, revoke = keyed(read_committed([topics.delegations_of("48")], kafka), "20194")[-2:]
    granted = Delegation.model_validate_json(grant.value)  # under the map in force: a commune, no district
    assert (granted.level, granted.province_code, granted.district_code) == ("commune", "48", None)
    assert revoke.value is None


def test_cli_rejects_an_invalid_complaint_with_a_clear_error(kafka):
    bad = complaint(f"CLI-{uuid.uuid4().hex[:8]}", recorded_at="not a time")
    done = cli(kafka, "submit", stdin=json.dumps(bad))
    assert done.returncode == 2
    assert "recorded_at" in done.stderr and "Traceback" not in done.stderr


def test_cli_refuses_a_resolution_by_a_unit_that_does_not_exist(kafka):
    cid = f"CLI-{uuid.uuid4().hex[:8]}"
    done = cli(kafka, "resolve", cid, "--level", "district", "--unit", "99999", "--outcome", "updated")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "resolved_by: no district has code '99999'" in done.stderr
    with ComplaintPublisher(kafka) as pub:
        with pytest.raises(InvalidEvent, match="in the future"):
            pub.publish_resolution({"schema_version": 1, "event_id": f"r-{cid}", "complaint_id": cid,
                                    "resolved_at": "2099-01-01T00:00:00+07:00", "outcome": "updated",
                                    "resolved_by": {"level": "province", "unit_code": "48"}})
        with pytest.raises(InvalidEvent, match="note holds U\\+0000"):
            pub.publish_resolution({"schema_version": 1, "event_id": f"r-{cid}", "complaint_id": cid,
                                    "resolved_at": "2021-11-09T09:00:00+07:00", "outcome": "updated",
                                    "resolved_by": {"level": "province", "unit_code": "48"}, "note": "x\u0000"})
        with pytest.raises(InvalidEvent, match="not in province 79"):
            pub.grant_delegation({"unit_code": "20194", "level": "commune", "province_code": "79",
                                  "commune_code": "20194", "granted_at": "2025-11-08T09:00:00+07:00",
                                  "granted_by": "79"})
        with pytest.raises(InvalidEvent, match="districts were abolished"):  # a grant of the 2021 map
            pub.grant_delegation({"unit_code": "490", "level": "district", "province_code": "48",
                                  "district_code": "490", "granted_at": "2021-11-08T09:00:00+07:00",
                                  "granted_by": "48"})
    assert keyed(read_committed(Topics(kafka.topic_prefix).resolution_inputs(), kafka), cid) == []


def test_generate_reports_its_achieved_rate(kafka):
    prefix = f"G{uuid.uuid4().hex[:6]}"
    done = cli(kafka, "generate", "--count", "300", "--rate", "200", "--seed", "3", "--id-prefix", prefix, "--json",
               "--quiet", "--resolve-share", "0.2", "--resolve-delay", "0.5")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["submissions"] == 300
    assert 120 <= summary["achieved_rate_per_s"] <= 220, summary
    assert summary["resolution"] > 0
    topics = Topics(kafka.topic_prefix)
    mine = [r for r in read_committed([topics.submitted], kafka) if r.key and r.key.startswith(prefix.encode())]
    assert len(mine) == 300  # complaints, retries and malformed payloads all go to submitted
