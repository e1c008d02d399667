import datetime as dt
import json

import pytest
from pydantic import ValidationError

from schemas.export import drift, render
from schemas.models import (
    ALL_MODELS,
    ComplaintResolved,
    ComplaintSubmitted,
    Delegation,
    FutureTimestampError,
    RoutedComplaint,
    describe_errors,
)
from tests.fixtures import complaint, routing_cases


def test_committed_json_schemas_match_the_models():
    assert drift() == [], "run: python -m schemas export"


def test_every_model_has_a_schema_file():
    assert set(render()) == {f"{name}.schema.json" for name in ALL_MODELS}


@pytest.mark.parametrize("case", routing_cases(), ids=lambda c: c["name"])
def test_public_fixtures_round_trip_unchanged(case):
    original = case["complaint"]
    model = ComplaintSubmitted.model_validate_json(json.dumps(original))
    assert json.loads(model.model_dump_json()) == original


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("recorded_at", "2021-11-08T09:00:00", "timezone"),
        ("recorded_at", "yesterday", "recorded_at"),
        ("recorded_at", 1636336800, "ISO 8601"),
        ("complaint_id", "", "complaint_id"),
        ("complaint_id", "x" * 65, "complaint_id"),
        ("complaint_id", "has space", "complaint_id"),
        ("category", "wrong", "category"),
        ("description", "x" * 5001, "description"),
        ("schema_version", 2, "schema_version"),
    ],
)
def test_invalid_fields_are_named(field, value, fragment):
    c = complaint()
    c[field] = value
    with pytest.raises(ValidationError) as err:
        ComplaintSubmitted.model_validate(c)
    message = describe_errors(err.value)
    assert field in message and fragment.lower() in message.lower()


@pytest.mark.parametrize("national_id", ["12345678", "1234567890", "12345678901", "1234567890123", "12345678a"])
def test_national_id_is_9_or_12_digits(national_id):
    c = complaint()
    c["citizen"]["national_id"] = national_id
    with pytest.raises(ValidationError, match="national_id"):
        ComplaintSubmitted.model_validate(c)


@pytest.mark.parametrize("national_id", ["123456789", "001090012345"])
def test_national_id_accepts_cmnd_and_cccd(national_id):
    c = complaint()
    c["citizen"]["national_id"] = national_id
    assert ComplaintSubmitted.model_validate(c).citizen.national_id == national_id


@pytest.mark.parametrize("where, code", [("province_code", "1"), ("district_code", "01"), ("commune_code", "0001"),
                                         ("province_code", 1)])
def test_codes_are_zero_padded_strings(where, code):
    c = complaint()
    c["location"][where] = code
    with pytest.raises(ValidationError, match=where):
        ComplaintSubmitted.model_validate(c)


def test_dose_number_is_not_read_from_a_string():
    c = complaint(doses=[{"dose_number": "1", "vaccine": "Pfizer", "vaccinated_on": "2021-08-01"}])
    with pytest.raises(ValidationError, match="dose_number"):
        ComplaintSubmitted.model_validate(c)


def test_missing_required_field_is_named():
    c = complaint()
    del c["citizen"]
    with pytest.raises(ValidationError) as err:
        ComplaintSubmitted.model_validate(c)
    assert describe_errors(err.value).startswith("citizen: Field required")


def test_location_may_be_missing_or_null_and_unknown_top_level_fields_are_kept():
    c = complaint()
    del c["location"]
    c["portal_session"] = "abc"
    model = ComplaintSubmitted.model_validate(c)
    assert model.location is None
    assert json.loads(model.model_dump_json())["portal_session"] == "abc"


def test_future_recorded_at_is_refused_beyond_five_minutes():
    now = dt.datetime(2021, 11, 8, 2, 0, tzinfo=dt.timezone.utc)
    c = ComplaintSubmitted.model_validate(complaint(recorded_at="2021-11-08T09:04:59+07:00"))
    c.check_not_future(now)  # 4 min 59 s ahead: clock skew, accepted
    late = ComplaintSubmitted.model_validate(complaint(recorded_at="2021-11-08T09:05:01+07:00"))
    with pytest.raises(FutureTimestampError, match="future"):
        late.check_not_future(now)


def test_deadline_is_recorded_at_plus_48_hours_in_its_own_offset():
    c = ComplaintSubmitted.model_validate(complaint(recorded_at="2021-11-08T09:00:00+07:00"))
    assert c.deadline.isoformat() == "2021-11-10T09:00:00+07:00"


def test_routed_complaint_requires_level_exactly_for_jurisdiction():
    base = complaint()
    routing = {"route": "triage", "province_code": None, "level": "province",
               "handler": {"level": "national", "unit_code": "VN"},
               "deadline": "2021-11-10T09:00:00+07:00", "routed_at": "2021-11-08T09:00:01+07:00", "warnings": []}
    with pytest.raises(ValidationError, match="level"):
        RoutedComplaint.model_validate({**base, "routing": routing})
    routing["level"] = None
    assert RoutedComplaint.model_validate({**base, "routing": routing}).routing.route == "triage"


def test_delegation_unit_code_matches_its_level():
    grant = {"unit_code": "490", "level": "district", "province_code": "48", "district_code": "490",
             "granted_at": "2021-11-01T08:00:00+07:00", "granted_by": "48"}
    assert Delegation.model_validate(grant).unit_code == "490"
    with pytest.raises(ValidationError, match="commune_code"):
        Delegation.model_validate({**grant, "level": "commune", "unit_code": "20194"})
    with pytest.raises(ValidationError, match="unit_code"):
        Delegation.model_validate({**grant, "unit_code": "491"})


def test_resolution_outcome_and_level_are_checked():
    ok = {"schema_version": 1, "event_id": "r1", "complaint_id": "C1", "resolved_at": "2021-11-09T10:00:00+07:00",
          "resolved_by": {"level": "district", "unit_code": "490"}, "outcome": "updated"}
    assert ComplaintResolved.model_validate(ok).outcome == "updated"
    with pytest.raises(ValidationError, match="outcome"):
        ComplaintResolved.model_validate({**ok, "outcome": "ignored"})
    with pytest.raises(ValidationError, match="resolved_at"):
        ComplaintResolved.model_validate({**ok, "resolved_at": "2021-11-09T10:00:00"})


RESOLUTION = {"schema_version": 1, "event_id": "r-1", "complaint_id": "C-1", "outcome": "updated",
              "resolved_at": "2026-11-25T09:00:00+07:00", "resolved_by": {"level": "province", "unit_code": "79"}}


def test_a_result_may_answer_the_citizen_and_correct_the_record():
    r = ComplaintResolved.model_validate({**RESOLUTION, "response": "Đã bổ sung mũi 2.", "corrections": [
        {"action": "add", "dose_number": 2, "vaccine": "Comirnaty", "vaccinated_on": "2021-10-01"},
        {"action": "remove", "dose_number": 3}]})
    assert [(c.action, c.dose_number) for c in r.corrections] == [("add", 2), ("remove", 3)]
    assert r.response == "Đã bổ sung mũi 2."


@pytest.mark.parametrize("changes, fragment", [
    ({"outcome": "rejected", "corrections": [{"action": "add", "dose_number": 2}]}, "only with outcome updated"),
    ({"corrections": [{"action": "replace", "vaccine": "Vero Cell"}]}, "names its dose_number"),
    ({"corrections": [{"action": "fix", "dose_number": 1}]}, "corrections.0.action"),
    ({"corrections": [{"action": "add", "dose_number": 1, "batch": "x"}]}, "corrections.0.batch"),
    ({"response": "x" * 2001}, "response"),
    ({"response": "a\x00b"}, "forbidden_character"),
])
def test_a_result_that_cannot_correct_the_record_is_refused_by_name(changes, fragment):
    with pytest.raises(ValidationError) as refused:
        ComplaintResolved.model_validate({**RESOLUTION, **changes})
    assert fragment in str(refused.value)
