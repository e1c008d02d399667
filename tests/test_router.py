"""The router's per-event step, without Kafka: routed, retry, dead letters."""

import base64
import datetime as dt
import json

import pytest

from processors.app import key_partition
from processors.deadletter import Source
from processors.router import process
from schemas.admin_units import load
from schemas.models import DeadLetter, RoutedComplaint
from schemas.topics import Topics
from tests.fixtures import complaint

NOW = dt.datetime(2021, 11, 8, 3, 0, tzinfo=dt.timezone.utc)
SOURCE = Source("complaints.submitted", 2, 41)


def run(raw, key=b"k", lookup=lambda cid: None):
    return process(raw, key, SOURCE, now=NOW, lookup=lookup, delegations={}, units=load(), topics=Topics())


def test_routed_event_is_the_complaint_plus_its_routing_block():
    c = complaint("R1", province="48", district="490")
    result = run(json.dumps(c).encode())
    assert result.kind == "routed" and result.output.topic == "complaints.jurisdiction.48"
    routed = RoutedComplaint.model_validate_json(result.output.value)
    assert routed.routing.level == "district" and routed.routing.routed_at == NOW
    assert {k: v for k, v in json.loads(result.output.value).items() if k != "routing"} == c
    assert result.record["deadline"] == "2021-11-10T09:00:00+07:00" and result.record["escalated"] == []


def test_a_complaint_already_in_the_table_is_a_retry():
    c = complaint("R2", province="79")
    assert run(json.dumps(c).encode(), lookup=lambda cid: {"route": "jurisdiction"}).kind == "retry"


def test_a_resolution_that_came_first_is_kept_in_the_new_record():
    c = complaint("R3", province="79")
    earlier = {"resolved_at": "2021-11-08T10:00:00+07:00", "resolved_by": {"level": "province", "unit_code": "79"}}
    result = run(json.dumps(c).encode(), lookup=lambda cid: earlier)
    assert result.kind == "routed" and result.record["resolved_at"] == earlier["resolved_at"]


@pytest.mark.parametrize("raw, error", [
    (None, "empty_value"),
    (b"", "empty_value"),
    (b"{nope", "not_json"),
    (b"\xff\xfe", "not_json"),
    (b"[1, 2]", "validation_error"),
    (json.dumps(complaint(recorded_at="2021-11-08T09:00:00")).encode(), "naive_timestamp"),
    (json.dumps(complaint(recorded_at="2021-11-08T10:06:00+07:00")).encode(), "future_recorded_at"),
    (json.dumps({**complaint(), "doses": "two"}).encode(), "validation_error"),
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
