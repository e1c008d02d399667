"""The sink's step from Kafka records to rows, and its writer thread, without a database."""

import base64
import json

import pytest

from processors.domain.deadletter import Source, Unreadable, dead_letter, dumps
from sinks.postgres import Pending, Writer, WriterDied
from sinks.rows import Batch, add
from tests.fixtures import complaint
from tests.test_router import NOW


def test_a_dead_letter_row_keeps_the_original_bytes_exactly():
    raw = b"\x00\xff not json \x00"
    letter = dead_letter(Unreadable("not_json", "not UTF-8"), Source("complaints.submitted", 1, 7), b"k", raw, NOW)
    batch = Batch()
    add(batch, "dead-letter", "complaints.dead-letter", 0, 3, b"k", dumps(letter))
    row = batch.dead_letters[("complaints.submitted", 1, 7)]
    assert row[-1] == raw and row[6] is None  # bytea exact; no readable text for invalid UTF-8
    assert json.loads(dumps(letter))["raw"] == base64.b64encode(raw).decode()


@pytest.mark.parametrize("raw", [json.dumps({"note": "x\u0000"}).encode(), b"\x00\x01binary\x00"])
def test_a_dead_letter_of_utf8_with_nul_keeps_bytes_and_no_text(raw):
    letter = dead_letter(Unreadable("forbidden_character", "note holds U+0000 (NUL)"),
                         Source("complaints.resolved", 0, 1), b"k\x00", raw, NOW)
    batch = Batch()
    add(batch, "dead-letter", "complaints.dead-letter", 0, 4, b"k", dumps(letter))
    row = batch.dead_letters[("complaints.resolved", 0, 1)]
    assert row[-1] == raw and row[5] == "k\ufffd"  # the key as text PostgreSQL accepts
    assert row[6] is None or "\x00" not in row[6]


@pytest.mark.parametrize("kind", ["routed", "escalations", "digest", "dead-letter"])
def test_an_unreadable_output_is_set_aside_with_its_bytes(kind):
    batch = Batch()
    add(batch, kind, "complaints.x", 2, 9, b"key", b"\x00garbage")
    [(topic, partition, offset, set_kind, error, key, value)] = batch.quarantine.values()
    assert (topic, partition, offset, set_kind, key, value) == ("complaints.x", 2, 9, kind, b"key", b"\x00garbage")
    assert error.startswith("unreadable: ")


@pytest.mark.parametrize("kind", ["submitted", "resolved"])
def test_an_invalid_input_is_skipped_since_the_router_dead_letters_it(kind):
    batch = Batch()
    add(batch, kind, "complaints.x", 0, 1, b"key", b"{nope")
    assert batch.skipped == {kind: 1} and not batch.quarantine


def test_delegations_are_recorded_as_every_workers_registry_applies_them():
    """The very same function decides: an invalid grant of its writer revokes; a record on an
    office's topic about another province's unit changes nothing."""
    batch = Batch()
    add(batch, "delegations", "complaints.delegations.79", 0, 1, b"26737", b"{nope")
    assert batch.revocations == {("26737", "own"): 1} and not batch.quarantine
    grant = {"unit_code": "26737", "level": "commune", "province_code": "79", "commune_code": "26737",
             "granted_at": "2025-08-01T08:00:00+07:00", "granted_by": "79"}
    add(batch, "delegations", "complaints.delegations.01", 0, 2, b"26737", json.dumps(grant).encode())
    assert batch.skipped == {"delegations": 1} and not batch.delegations
    add(batch, "delegations", "complaints.delegations.79", 0, 3, b"26737", json.dumps(grant).encode())
    assert list(batch.delegations) == [("26737", "own")] and not batch.revocations


def routed(cid: str, **changes) -> bytes:
    import datetime as dt

    from processors.domain.routing import route
    from schemas.admin_units import load
    from schemas.models import ComplaintSubmitted

    c = complaint(cid, province="79", **changes)
    block = route(ComplaintSubmitted.model_validate(c), {}, load("2025")).routing_json(
        ComplaintSubmitted.model_validate(c), dt.datetime(2021, 11, 8, 3, tzinfo=dt.timezone.utc))
    return json.dumps({**c, "routing": block}).encode()


def test_every_row_knows_the_record_it_came_from():
    batch = Batch()
    value = routed("C-9")
    add(batch, "routed", "complaints.jurisdiction.79", 4, 12, b"C-9", value)
    for table in ("complaints", "routes"):
        origin = batch.origins[(table, "C-9")]
        assert (origin.topic, origin.partition, origin.offset, origin.value) == (
            "complaints.jurisdiction.79", 4, 12, value)


def test_the_record_takes_complaints_from_their_routes_and_resolutions_from_their_verdicts():
    """The submissions and resolutions the worker judges are not recorded as read: a too large or
    refused one must never count (one judge)."""
    batch = Batch()
    add(batch, "submitted", "complaints.submitted", 0, 1, b"C-1", json.dumps(complaint("C-1")).encode())
    add(batch, "resolved", "complaints.resolved", 0, 2, b"C-1", b'{"complaint_id": "C-1"}')
    assert not batch.complaints and not batch.resolutions and batch.skipped == {"submitted": 1, "resolved": 1}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_an_output_not_in_utf8_is_set_aside(encoding):
    batch = Batch()
    add(batch, "routed", "complaints.jurisdiction.79", 0, 1, b"C-2", routed("C-2").decode().encode(encoding))
    assert not batch.routes and len(batch.quarantine) == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_writer_that_dies_is_seen_with_its_reason():
    writer = Writer("postgresql://unused")

    def store(batch):
        raise RuntimeError("disk on fire\nsecond line may quote values")

    writer.store = store  # type: ignore[method-assign]
    writer.start()
    writer.todo.put(Pending(Batch(), {}, 0))
    writer.join(timeout=10)
    with pytest.raises(WriterDied, match=r"^RuntimeError: disk on fire$"):
        writer.check_alive()
