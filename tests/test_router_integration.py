"""The router on the real broker: routes, dead letters, retries, delegations, kill -9."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from dataclasses import replace

import pytest

from producers.client import ComplaintPublisher
from producers.cli import grant_for
from producers.generator import ComplaintFactory, GeneratorConfig
from schemas.topics import Topics
from harness.processes import free_port, metric_value
from tests.fixtures import complaint, routing_cases
from tests.test_routing_2025 import EXPECTED_2025
from tests.kafka_helpers import by_complaint, values, wait_for_records

pytestmark = pytest.mark.integration


def unique(cid: str) -> str:
    return f"{cid}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("admin_map", ["2025", "2021"])
def test_public_fixtures_land_on_their_topics_with_their_routing(kafka, worker_factory, scratch_topics, tmp_path,
                                                                 admin_map):
    """Under the map in force (the default) as tests/test_routing_2025.py expects them; under
    ADMIN_MAP=2021 as the fixtures say (a deployment of its own: its 63 jurisdiction topics)."""
    settings = kafka if admin_map == kafka.admin_map else scratch_topics(replace(
        kafka, admin_map=admin_map, topic_prefix=f"{kafka.topic_prefix}m{admin_map}.",
        faust_app_id=f"{kafka.topic_prefix}m{admin_map}.router"))
    worker_factory(replace(settings, faust_data_dir=str(tmp_path / f"w{admin_map}"), worker_metrics_port=free_port()))
    topics = settings.topics
    cases = routing_cases()
    sent = {}
    with ComplaintPublisher(settings) as pub:
        for case in cases:
            c = dict(case["complaint"], complaint_id=unique(case["complaint"]["complaint_id"]))
            pub.publish_complaint(c)
            sent[c["complaint_id"]] = (case, c)
    records = wait_for_records(settings, topics.routed_outputs(),
                               lambda rs: set(sent) <= set(by_complaint(rs)))
    got = by_complaint(records)
    for cid, (case, original) in sent.items():
        [routed] = got[cid]
        r = routed["routing"]
        if admin_map == "2021":
            expect = case["expect"]
            assert routed["_topic"] == settings.topic_prefix + expect["topic"], case["name"]
            assert (r["route"], r["province_code"], r["level"], r["handler"]) == \
                (expect["route"], expect["province_code"], expect["level"], expect["handler"]), case["name"]
            assert bool(r["warnings"]) == expect["warnings"]
        else:
            route, province, level, handler, warnings, commune, _ = EXPECTED_2025[case["name"]]
            assert (r["route"], r["province_code"], r["level"], r["handler"], r["warnings"]) == \
                (route, province, level, handler, warnings), case["name"]
            assert r["location_in_force"]["commune_code"] == commune
            assert routed["_topic"] == settings.topic_prefix + (
                f"complaints.jurisdiction.{province}" if route == "jurisdiction" else
                {"site_system": "complaints.site-system", "triage": "complaints.triage"}[route])
        assert r["admin_map"] == admin_map
        assert r["deadline"] == "2021-11-10T09:00:00+07:00"
        body = {k: v for k, v in routed.items() if k not in ("routing", "_topic")}
        assert body == original, "the submitted complaint travels unchanged"


def test_malformed_payloads_are_dead_lettered_and_the_worker_goes_on(kafka, worker):
    topics = Topics(kafka.topic_prefix)
    marker = uuid.uuid4().hex[:8]
    naive = complaint(unique("naive"), recorded_at="2021-11-08T09:00:00")
    missing = complaint(unique("missing"))
    del missing["citizen"]
    future = complaint(unique("future"), recorded_at="2099-01-01T00:00:00+07:00")
    bad = [
        (f"nojson-{marker}", b"{not json"),
        (f"binary-{marker}", b"\xff\xfe\x00binary"),
        (naive["complaint_id"], json.dumps(naive).encode()),
        (missing["complaint_id"], json.dumps(missing).encode()),
        (future["complaint_id"], json.dumps(future).encode()),
    ]
    good = complaint(unique("after-bad"), province="79")
    with ComplaintPublisher(kafka) as pub:
        for key, raw in bad:
            pub.publish_raw(topics.submitted, key, raw)
        pub.publish_complaint(good)
    letters = wait_for_records(kafka, [topics.dead_letter],
                               lambda rs: {k for k, _ in bad} <= {json.loads(r.value)["key"] for r in rs})
    by_key = {v["key"]: v for v in values(letters)}
    assert by_key[f"nojson-{marker}"]["error"] == "not_json"
    assert by_key[f"nojson-{marker}"]["raw"] == "{not json"
    binary = by_key[f"binary-{marker}"]
    assert binary["raw_encoding"] == "base64" and binary["error"] == "not_json"
    assert by_key[naive["complaint_id"]]["error"] == "naive_timestamp"
    assert "recorded_at" in by_key[naive["complaint_id"]]["detail"]
    assert by_key[missing["complaint_id"]]["error"] == "validation_error"
    assert "citizen" in by_key[missing["complaint_id"]]["detail"]
    assert by_key[future["complaint_id"]]["error"] == "future_recorded_at"
    for key, _ in bad:  # (the topic holds other tests' letters too)
        assert by_key[key]["source_topic"] == topics.submitted and by_key[key]["offset"] >= 0
    wait_for_records(kafka, [topics.jurisdiction("79")],
                     lambda rs: good["complaint_id"] in by_complaint(rs))
    assert worker.alive()


def test_resolutions_and_delegations_that_cannot_count_are_dead_lettered_and_waiting_ones_expire(
        kafka, worker_factory):
    worker = worker_factory(replace(kafka, pending_resolution_ttl_s=3.0, worker_metrics_port=free_port()))
    topics = Topics(kafka.topic_prefix)

    def resolution(cid: str, **changes) -> bytes:
        return json.dumps({"schema_version": 1, "event_id": f"r-{cid}", "complaint_id": cid,
                           "resolved_at": dt.datetime.now(dt.timezone.utc).isoformat(), "outcome": "updated",
                           "resolved_by": {"level": "province", "unit_code": "79"}, **changes}).encode()

    unknown_unit, future, waiting = unique("unit"), unique("future"), unique("waiting")
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    bad_grant = {**grant_for("26737", None, None), "province_code": "01", "granted_by": "01"}  # 26737 is in 79
    with ComplaintPublisher(kafka) as pub:
        pub.publish_raw(topics.resolved, unknown_unit,
                        resolution(unknown_unit, resolved_by={"level": "district", "unit_code": "99999"}))
        pub.publish_raw(topics.resolved, future, resolution(future, resolved_at=later))
        pub.publish_raw(topics.resolved, waiting, resolution(waiting))  # its complaint never comes
        pub.publish_raw(topics.delegations, "26737", json.dumps(bad_grant).encode())
    keys = {unknown_unit, future}
    letters = wait_for_records(kafka, [topics.dead_letter], lambda rs: keys <= {json.loads(r.value)["key"] for r in rs}
                               and any(json.loads(r.value)["source_topic"] == topics.delegations for r in rs))
    by_key = {v["key"]: v for v in values(letters) if v["key"] in keys}
    assert by_key[unknown_unit]["error"] == "unknown_unit" and "99999" in by_key[unknown_unit]["detail"]
    assert by_key[future]["error"] == "future_resolved_at"
    [grant_letter] = [v for v in values(letters) if v["source_topic"] == topics.delegations
                      and json.loads(v["raw"]) == bad_grant]
    assert grant_letter["error"] == "unknown_unit" and "not in province 01" in grant_letter["detail"]

    deadline = time.monotonic() + 30
    text = ""
    while time.monotonic() < deadline:
        text = worker.metrics(worker.settings.worker_metrics_port)
        if metric_value(text, "complaints_resolutions_expired_total") >= 1:
            break
        time.sleep(0.5)
    assert metric_value(text, "complaints_resolutions_expired_total") >= 1
    assert metric_value(text, "complaints_dead_letters_total", source="delegations", error="unknown_unit") >= 1
    assert worker.alive()


def test_a_retried_complaint_is_routed_once(kafka, worker):
    topics = Topics(kafka.topic_prefix)
    c = complaint(unique("retry"), province="01", district="001")
    last = complaint(unique("retry-last"), province="01")
    with ComplaintPublisher(kafka) as pub:
        for _ in range(3):
            pub.publish_complaint(c)
        pub.publish_complaint(last)
    records = wait_for_records(kafka, [topics.jurisdiction("01")],
                               lambda rs: last["complaint_id"] in by_complaint(rs))
    assert len(by_complaint(records)[c["complaint_id"]]) == 1
    # `last` may sit on another partition and be routed before the retries are read: poll.
    deadline = time.monotonic() + 30
    while (skipped := metric_value(worker.metrics(worker.settings.worker_metrics_port),
                                   "complaints_retries_skipped_total")) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert skipped >= 2


def wait_for_metric(worker, name: str, expected: float, timeout_s: float = 30, **labels) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if metric_value(worker.metrics(worker.settings.worker_metrics_port), name, **labels) == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"{name}{labels} never reached {expected}")


def test_a_grant_and_a_revocation_apply_to_complaints_that_arrive_after_them(kafka, worker):
    """Under the map in force delegations are to communes; an address of 2021 (district 490,
    old commune 20194) reaches the commune in force it became."""
    topics = Topics(kafka.topic_prefix)
    with ComplaintPublisher(kafka) as pub:
        before = complaint(unique("before-grant"), province="48", commune="20194")
        pub.publish_complaint(before)
        wait_for_records(kafka, [topics.jurisdiction("48")], lambda rs: before["complaint_id"] in by_complaint(rs))

        pub.grant_delegation(grant_for("20194", None, None))
        wait_for_metric(worker, "complaints_delegations_active", 1, level="commune")
        commune = complaint(unique("commune-granted"), province="48", commune="20194")
        old_address = complaint(unique("old-address"), province="48", district="490", commune="20194")
        pub.publish_complaint(commune)
        pub.publish_complaint(old_address)
        # The registry applies when the router reads the complaint: wait for it before the next change.
        wait_for_records(kafka, [topics.jurisdiction("48")],
                         lambda rs: {commune["complaint_id"], old_address["complaint_id"]} <= set(by_complaint(rs)))

        pub.revoke_delegation("20194")
        wait_for_metric(worker, "complaints_delegations_active", 0, level="commune")
        after = complaint(unique("after-revoke"), province="48", commune="20194")
        pub.publish_complaint(after)

    ids = [c["complaint_id"] for c in (before, commune, old_address, after)]
    got = by_complaint(wait_for_records(kafka, [topics.jurisdiction("48")],
                                        lambda rs: set(ids) <= set(by_complaint(rs))))
    handlers = [got[cid][0]["routing"]["handler"] for cid in ids]
    assert handlers == [
        {"level": "province", "unit_code": "48"},
        {"level": "commune", "unit_code": "20194"},
        {"level": "commune", "unit_code": "20194"},
        {"level": "province", "unit_code": "48"},
    ]


def test_a_restarted_worker_loads_the_registry_before_routing(kafka, worker_factory):
    topics = Topics(kafka.topic_prefix)
    with ComplaintPublisher(kafka) as pub:
        pub.grant_delegation(grant_for("26737", None, None))  # Phường Tân Định, TP HCM
        c = complaint(unique("registry-first"), province="79", commune="26737")
        pub.publish_complaint(c)
    worker_factory()  # starts after both events exist: the grant must count
    got = by_complaint(wait_for_records(kafka, [topics.jurisdiction("79")],
                                        lambda rs: c["complaint_id"] in by_complaint(rs)))
    assert got[c["complaint_id"]][0]["routing"]["handler"] == {"level": "commune", "unit_code": "26737"}
    with ComplaintPublisher(kafka) as pub:
        pub.revoke_delegation("26737")


def test_sigkill_mid_load_routes_nothing_twice_and_loses_nothing(kafka, worker_factory, tmp_path):
    # A backlog larger than one fetch, killed mid-way: the restarted worker rebuilds its
    # tables while the backlog waits, which is where faust-streaming's recovery lost a
    # partition's events (processors/engine/recovery.py).
    settings = replace(kafka, faust_data_dir=str(tmp_path / "killed"), worker_metrics_port=free_port(),
                       commit_interval_s=1.0)
    topics = Topics(kafka.topic_prefix)
    factory = ComplaintFactory(GeneratorConfig(seed=7, id_prefix=f"K{uuid.uuid4().hex[:6]}"))
    now = dt.datetime.now(dt.timezone.utc)
    batch = [factory.complaint(now) for _ in range(6000)]
    ids = {c["complaint_id"] for c in batch}

    first = worker_factory(settings, name="killed")
    with ComplaintPublisher(kafka) as pub:
        for c in batch:
            pub.publish_complaint(c, wait=False)
        pub.flush()
    # Kill while the backlog is being routed: some transactions are open at that moment.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if metric_value(first.metrics(settings.worker_metrics_port), "complaints_received_total") >= 1500:
            break
        time.sleep(0.05)
    first.kill()

    worker_factory(settings, name="killed")  # same data dir, same app id
    records = wait_for_records(kafka, topics.routed_outputs(),
                               lambda rs: ids <= set(by_complaint(rs)), timeout_s=120)
    got = by_complaint(records)
    duplicated = [cid for cid in ids if len(got.get(cid, [])) > 1]
    lost = ids - set(got)
    assert (len(lost), len(duplicated)) == (0, 0), f"lost {len(lost)}, duplicated {len(duplicated)}"


def test_dead_letters_are_replayed_after_correction(kafka, worker, tmp_path):
    topics = Topics(kafka.topic_prefix)
    bad = complaint(unique("fix-me"), province="31", recorded_at="2021-11-08T09:00:00")
    with ComplaintPublisher(kafka) as pub:
        pub.publish_raw(topics.submitted, bad["complaint_id"], json.dumps(bad).encode())
    wait_for_records(kafka, [topics.dead_letter],
                     lambda rs: any(json.loads(r.value)["key"] == bad["complaint_id"] for r in rs))
    import subprocess
    import sys

    from harness.processes import REPO, settings_env

    def replay(*args):
        return subprocess.run([sys.executable, "-m", "processors", "replay", *args], cwd=REPO,
                              env=settings_env(kafka), capture_output=True, text=True, timeout=120)

    exported = tmp_path / "letters.jsonl"
    assert replay("--export", str(exported), "--error", "naive_timestamp").returncode == 0
    letters = [json.loads(line) for line in exported.read_text().splitlines()]
    mine = [x for x in letters if x["key"] == bad["complaint_id"]]
    assert len(mine) == 1
    unfixed = tmp_path / "unfixed.jsonl"
    unfixed.write_text(json.dumps(mine[0]) + "\n")
    refused = replay(str(unfixed))
    assert refused.returncode == 1 and "still invalid" in refused.stderr

    mine[0]["raw"] = mine[0]["raw"].replace('"2021-11-08T09:00:00"', '"2021-11-08T09:00:00+07:00"')
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text(json.dumps(mine[0]) + "\n")
    done = replay(str(fixed))
    assert done.returncode == 0, done.stderr
    got = by_complaint(wait_for_records(kafka, [topics.jurisdiction("31")],
                                        lambda rs: bad["complaint_id"] in by_complaint(rs)))
    assert got[bad["complaint_id"]][0]["routing"]["deadline"] == "2021-11-10T09:00:00+07:00"


def test_a_clean_stop_records_the_changelog_offset_of_every_table_partition(kafka, worker_factory, tmp_path):
    # A clean restart trusts the local tables and reads their changelogs only past the offset
    # recorded in RocksDB. faust-streaming never records it in exactly_once mode
    # (processors/engine/eos.py, record_changelog_positions); without it every restart re-read everything.
    from rocksdict import AccessType, Rdict

    from processors.ops.readback import read_committed

    settings = replace(kafka, faust_data_dir=str(tmp_path / "clean"), worker_metrics_port=free_port())
    worker = worker_factory(settings, name="clean")
    batch = [complaint(unique("clean"), province="79") for _ in range(30)]
    with ComplaintPublisher(kafka) as pub:
        for c in batch:
            pub.publish_complaint(c, wait=False)
        pub.flush()
    wait_for_records(kafka, Topics(kafka.topic_prefix).routed_outputs(),
                     lambda rs: {c["complaint_id"] for c in batch} <= set(by_complaint(rs)))
    assert worker.stop() == 0
    changelog = f"{settings.faust_app_id}-complaints-changelog"
    last: dict[int, int] = {}
    for r in read_committed([changelog], kafka):
        last[r.partition] = max(last.get(r.partition, -1), r.offset)
    assert last, "the routing wrote the complaints table's changelog"
    tables = next((tmp_path / "clean").rglob("tables"))
    for partition, offset in last.items():
        db = Rdict(str(tables / f"complaints-{partition}.db"), access_type=AccessType.read_only())
        try:
            assert int(db[b"__faust\0offset__"]) == offset, f"partition {partition}"
        finally:
            db.close()

    # Restarted from that clean state, recovery must know each changelog's highwater before
    # it has fetched anything (Faust read it from the fetch cache: -1, then ConsistencyError
    # against the persisted offset; processors/engine/recovery.py), and the worker routes again.
    restarted = worker_factory(settings, name="clean-restart")
    log = restarted.log.read_text(errors="replace")
    highwaters = recovery_highwaters(log, changelog)
    assert highwaters, "recovery logged the changelog's highwaters"
    assert {p: o for p, o in highwaters.items() if o >= 0} == last  # its last record, not the marker after it
    late = complaint(unique("after-clean-restart"), province="79")
    with ComplaintPublisher(kafka) as pub:
        pub.publish_complaint(late)
    wait_for_records(kafka, Topics(kafka.topic_prefix).routed_outputs(),
                     lambda rs: late["complaint_id"] in by_complaint(rs))


def recovery_highwaters(log: str, topic: str) -> dict[int, int]:
    """The highwaters of `topic`'s partitions in Faust's "Highwater for active changelog
    partitions" table of the latest recovery (a ditto mark repeats the topic above)."""
    section = log.rpartition("Highwater for active changelog partitions")[2]
    found: dict[int, int] = {}
    current = ""
    for line in section.splitlines()[1:]:
        if not line.startswith(("|", "+")):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].isdigit():
            current = current if cells[0] == "〃" else cells[0]
            if current == topic:
                found[int(cells[1])] = int(cells[2])
    return found
