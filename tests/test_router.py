"""The router's per-event step, without Kafka: routed, retry, dead letters."""

import base64
import datetime as dt
import json

import pytest

from processors.shards import key_partition
from processors.domain.deadletter import Source
from processors.domain.deadletter import Unreadable
from processors.domain.intake import process, read_delegation, read_resolution
from processors.domain.state import ComplaintState
from schemas.admin_units import load
from schemas.models import DeadLetter, RoutedComplaint
from schemas.topics import Topics
from tests.fixtures import complaint

NOW = dt.datetime(2021, 11, 8, 3, 0, tzinfo=dt.timezone.utc)
SOURCE = Source("complaints.submitted", 2, 41)
UNITS = load("2021")  # the per-event mechanics, on the seed's map (tests/test_routing_2025.py: the map in force)


def run(raw, key=b"k", lookup=lambda cid: None, units=UNITS):
    return process(raw, key, SOURCE, now=NOW, lookup=lookup, delegations={}, units=units,
                   topics=Topics(admin_map=units.map))


def test_routed_event_is_the_complaint_plus_its_routing_block():
    c = complaint("R1", province="48", district="490")
    result = run(json.dumps(c).encode())
    assert result.kind == "routed" and result.output.topic == "complaints.jurisdiction.48"
    routed = RoutedComplaint.model_validate_json(result.output.value)
    assert routed.routing.level == "district" and routed.routing.routed_at == NOW
    assert {k: v for k, v in json.loads(result.output.value).items() if k != "routing"} == c
    assert result.record.deadline == "2021-11-10T09:00:00+07:00" and result.record.escalated == []


def test_a_complaint_already_in_the_table_is_a_retry():
    c = complaint("R2", province="79")
    assert run(json.dumps(c).encode(), lookup=lambda cid: ComplaintState(route="jurisdiction")).kind == "retry"


def test_the_resolutions_that_came_first_are_kept_in_the_new_record_to_be_judged():
    c = complaint("R3", province="79")
    earlier = ComplaintState(waiting=[[0, 5, "R3", "{}"]], pending_since="2021-11-08T10:00:00+07:00")
    result = run(json.dumps(c).encode(), lookup=lambda cid: earlier)
    assert result.kind == "routed" and result.record.waiting == earlier.waiting
    assert result.record.resolved_at is None and result.record.submission[0] == c["event_id"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_utf8_only_other_encodings_are_not_json(encoding):
    """json.loads(bytes) reads UTF-16 and UTF-32: such a complaint, a NUL in its text, was routed
    while the record set its copy aside (and UTF-16-BE got a UTF-8 routing block appended)."""
    c = complaint("R-enc", province="79", description="hidden\u0000nul")
    result = run(json.dumps(c).encode(encoding))
    assert (result.kind, result.error) == ("dead_letter", "not_json")


def test_a_resubmission_with_other_content_is_dead_lettered_naming_both_events():
    first = complaint("R-twice", province="79")
    routed = run(json.dumps(first).encode())
    same = {**first, "event_id": "ev-retried"}  # a retry: the same complaint, another event id
    assert run(json.dumps(same).encode(), lookup=lambda cid: routed.record).kind == "retry"
    other = {**first, "event_id": "ev-other", "description": "Một nội dung khác"}
    result = run(json.dumps(other).encode(), lookup=lambda cid: routed.record)
    assert (result.kind, result.error) == ("dead_letter", "conflicting_resubmission")
    letter = DeadLetter.model_validate_json(result.output.value)
    assert first["event_id"] in letter.detail and "ev-other" in letter.detail


@pytest.mark.parametrize("stamp", ["1636336800", "1636336800.5", 1636336800, "  2021-11-08T09:00:00+07:00"])
def test_timestamps_are_iso_8601_strings_only(stamp):
    result = run(json.dumps(complaint("R-ts", province="79", recorded_at=stamp)).encode())
    assert (result.kind, result.error) == ("dead_letter", "validation_error")


@pytest.mark.parametrize("raw, error", [
    (None, "empty_value"),
    (b"", "empty_value"),
    (b"{nope", "not_json"),
    (b"\xff\xfe", "not_json"),
    (b"[1, 2]", "validation_error"),
    (json.dumps(complaint(recorded_at="2021-11-08T09:00:00")).encode(), "naive_timestamp"),
    (json.dumps(complaint(recorded_at="2021-11-08T10:06:00+07:00")).encode(), "future_recorded_at"),
    (json.dumps({**complaint(), "doses": "two"}).encode(), "validation_error"),
    (json.dumps({**complaint(), "description": "ends in NUL\u0000"}).encode(), "forbidden_character"),
    (json.dumps({**complaint(), "description": "bell\u0007"}).encode(), "forbidden_character"),
    (b'{"complaint_id": "X", "description": "lone \\ud800"}', "forbidden_character"),
    (json.dumps({**complaint(), "extra": {"deep": ["\u001b[31m"]}}).encode(), "forbidden_character"),
    (json.dumps({**complaint(), "extra": "x" * (512 * 1024)}).encode(), "too_large"),
    (b"[" * 100_000 + b"]" * 100_000, "not_json"),
    (b'{"a": ' + b"[" * 900 + b"]" * 900 + b"}", "validation_error"),
])
def test_what_cannot_be_read_is_dead_lettered_whole(raw, error):
    result = run(raw, key=b"key-1")
    assert result.kind == "dead_letter" and result.error == error
    letter = DeadLetter.model_validate_json(result.output.value)
    assert (letter.source_topic, letter.partition, letter.offset, letter.key) == ("complaints.submitted", 2, 41,
                                                                                  "key-1")
    if raw and raw.startswith(b"\xff"):
        assert letter.raw_encoding == "base64" and base64.b64decode(letter.raw) == raw
    elif raw:
        assert letter.raw.encode() == raw


def test_key_partition_agrees_with_aiokafkas_default_partitioner():
    # Two implementations of Java's murmur2 partitioner: kafka-python's (ours) and aiokafka's.
    from aiokafka.partitioner import DefaultPartitioner

    for key in ["C-1", "P1", "Nguyễn", "x" * 64]:
        assert key_partition(key, 6) == DefaultPartitioner()(key.encode(), list(range(6)), list(range(6)))


def test_a_forbidden_character_is_named_by_field_without_quoting_the_text():
    c = complaint()
    c["citizen"]["full_name"] = "Nguyễn Văn An\u0000"
    result = run(json.dumps(c).encode())
    letter = DeadLetter.model_validate_json(result.output.value)
    assert letter.detail == "citizen.full_name holds U+0000 (NUL)"
    assert letter.raw.encode() == json.dumps(c).encode()  # the original kept whole for correction


def test_tab_newline_and_carriage_return_are_text():
    c = complaint(province="79")
    c["description"] = "line one\r\nline\ttwo"
    assert run(json.dumps(c).encode()).kind == "routed"


def test_rule_5_is_judged_against_the_records_timestamp_not_the_processing_time():
    c = json.dumps(complaint(recorded_at="2021-11-08T10:06:00+07:00", province="79")).encode()
    published = NOW + dt.timedelta(minutes=10)  # the portal published it 10 min after NOW
    late_replay = process(c, b"k", SOURCE, now=NOW, lookup=lambda cid: None, delegations={}, units=load(),
                          topics=Topics(), received_at=published)
    assert late_replay.kind == "routed"
    early = process(c, b"k", SOURCE, now=NOW + dt.timedelta(days=30), lookup=lambda cid: None, delegations={},
                    units=load(), topics=Topics(), received_at=NOW)
    assert early.kind == "dead_letter" and early.error == "future_recorded_at"


def resolution(**changes):
    event = {"schema_version": 1, "event_id": "r-1", "complaint_id": "C-1", "resolved_at": "2021-11-08T10:00:00+07:00",
             "resolved_by": {"level": "district", "unit_code": "760"}, "outcome": "updated"}
    return json.dumps({**event, **changes}).encode()


@pytest.mark.parametrize("raw, error, fragment", [
    (resolution(resolved_by={"level": "district", "unit_code": "99999"}), "unknown_unit", "no district has code"),
    (resolution(resolved_by={"level": "commune", "unit_code": "760"}), "unknown_unit", "no commune"),
    (resolution(resolved_by={"level": "province", "unit_code": "00"}), "unknown_unit", "no province"),
    (resolution(resolved_by={"level": "national", "unit_code": "HN"}), "unknown_unit", "national unit"),
    (resolution(resolved_at="2021-11-08T10:06:00+07:00"), "future_resolved_at", "in the future"),
    (resolution(note="done\u0000"), "forbidden_character", "note holds U+0000"),
    (resolution(outcome="fixed"), "validation_error", "outcome"),
    (b"\xff", "not_json", "UTF-8"),
])
def test_resolutions_that_cannot_count_are_refused_with_the_reason(raw, error, fragment):
    with pytest.raises(Unreadable) as refused:
        read_resolution(raw, NOW, UNITS)
    assert refused.value.error == error and fragment in refused.value.detail


def test_a_resolution_by_a_real_unit_or_any_site_is_read():
    assert read_resolution(resolution(), NOW, UNITS).resolved_by.unit_code == "760"
    assert read_resolution(resolution(resolved_by={"level": "site", "unit_code": "S-1"}), NOW, UNITS)
    assert read_resolution(resolution(resolved_by={"level": "national", "unit_code": "VN"}), NOW, UNITS)


def grant(**changes):
    event = {"unit_code": "760", "level": "district", "province_code": "79", "district_code": "760",
             "granted_at": "2021-11-08T10:00:00+07:00", "granted_by": "79"}
    return json.dumps({**event, **changes}).encode()


@pytest.mark.parametrize("key, raw, error, fragment", [
    (b"760", grant(province_code="01"), "unknown_unit", "not in province 01"),
    (b"999", grant(unit_code="999", district_code="999"), "unknown_unit", "no district has code '999'"),
    (b"20194", grant(unit_code="20194", level="commune", commune_code="20194"), "unknown_unit",
     "not in district 760"),
    (b"761", grant(), "wrong_key", "keyed by its unit_code"),
    (b"760", grant(granted_by="01"), "not_own_province", "delegated by that province, not by '01'"),
    (b"760", grant(granted_at="2021-11-08T10:00:00"), "naive_timestamp", "granted_at"),
])
def test_delegations_that_fail_validation_are_refused_with_the_reason(key, raw, error, fragment):
    with pytest.raises(Unreadable) as refused:
        read_delegation(key, raw, UNITS)
    assert refused.value.error == error and fragment in refused.value.detail


def test_control_characters_make_a_dead_letter_base64_rather_than_six_times_larger():
    raw = b"\x01" * 1000
    letter = DeadLetter.model_validate_json(run(raw).output.value)
    assert letter.raw_encoding == "base64" and base64.b64decode(letter.raw) == raw


@pytest.mark.parametrize("admin_map", ["2021", "2025"])
@pytest.mark.parametrize("province, routed_at", [("48", NOW), ("79", dt.datetime(2021, 11, 8, 10, 0, 0, 1234,
                                                                                 tzinfo=dt.timezone(dt.timedelta(hours=7))))])
def test_the_hot_paths_routing_json_is_what_the_routing_model_dumps(province, routed_at, admin_map):
    from processors.domain.routing import route
    from schemas.models import ComplaintSubmitted, Routing

    c = ComplaintSubmitted.model_validate(complaint(province=province, district="999"))
    decision = route(c, {}, load(admin_map))
    as_json = decision.routing_json(c, routed_at)
    assert as_json == Routing.model_validate(as_json).model_dump(mode="json", exclude_unset=True)
    assert as_json["warnings"] == ["unknown_district"] and as_json["admin_map"] == admin_map


def test_a_submission_carrying_its_own_routing_field_gets_ours_instead():
    c = {**complaint("R9", province="79"), "routing": {"route": "forged"}}
    routed = json.loads(run(json.dumps(c).encode()).output.value)
    assert routed["routing"]["route"] == "jurisdiction" and list(routed).count("routing") == 1


def test_the_raw_check_lets_clean_json_skip_the_walk_and_sends_escapes_to_it():
    from schemas.models import TEXT_CHECKED, text_context

    assert text_context(json.dumps(complaint(), ensure_ascii=False).encode()) is TEXT_CHECKED
    assert text_context(json.dumps(complaint()).encode()) is TEXT_CHECKED  # \u1ec5 and the like: no candidate
    for text in ["\u0000", "\u001f", "\ud83d\ude00", "\ud800"]:
        assert text_context(json.dumps({"x": text}).encode()) is None  # looked at closely by the walk
    emoji = complaint(province="79", description="💉 \ud83d\ude00".encode("utf-16", "surrogatepass").decode("utf-16"))
    assert run(json.dumps(emoji).encode()).kind == "routed"  # a surrogate pair is one character: fine


def commune_grant(**changes):
    event = {"unit_code": "26737", "level": "commune", "province_code": "79", "commune_code": "26737",
             "granted_at": "2025-07-08T10:00:00+07:00", "granted_by": "79"}
    return json.dumps({**event, **changes}).encode()


def test_under_the_map_in_force_a_delegation_is_to_a_commune_in_force():
    assert read_delegation(b"26737", commune_grant(), load("2025")).commune_code == "26737"


@pytest.mark.parametrize("key, raw, fragment", [
    (b"760", grant(), "districts were abolished"),  # a grant of the 2021 map lapses
    (b"26737", commune_grant(district_code="760"), "names no district_code"),
    (b"26737", commune_grant(province_code="01"), "not in province 01"),
    (b"26563", commune_grant(unit_code="26563", commune_code="26563"), "no commune in force"),
])
def test_under_the_map_in_force_other_delegations_are_refused(key, raw, fragment):
    with pytest.raises(Unreadable) as refused:
        read_delegation(key, raw, load("2025"))
    assert refused.value.error == "unknown_unit" and fragment in refused.value.detail
