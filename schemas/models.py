"""The event contract (../shared/spec/contract.md) as pydantic v2 models.

These models are the single source of the contract: the JSON Schema files under
schemas/json/ are generated from them (`python -m schemas export`).

Validation is as strict as the contract: timestamps must carry an explicit offset,
administrative codes are zero-padded GSO codes, numbers are not read from strings.
Unknown top-level fields are kept (the contract may be extended with optional fields).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

# How far in the future a recorded_at may lie before the event is refused (clock skew).
MAX_FUTURE_SKEW = dt.timedelta(minutes=5)
# The largest input event read (bytes). A routed complaint adds its routing block to the
# submission, and Kafka refuses records above 1 MiB by default: far under that, and far
# above any real complaint (a description is at most 5,000 characters).
MAX_EVENT_BYTES = 512 * 1024
# Dead letters carry the original bytes (base64 at worst: 4/3 of up to 1 MiB), so their topic
# and the worker's producer allow records up to this size.
MAX_DEAD_LETTER_BYTES = 2 * 1024 * 1024
SLA = dt.timedelta(hours=48)
# "Due soon": a deadline within this window. The one meaning of the words, for the console,
# the daily digest and the complaints_open_due_soon gauge alike.
DUE_SOON = dt.timedelta(hours=24)

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_string_only(value: Any) -> Any:
    # pydantic would read a number, or a string of digits, as a Unix time in UTC; the contract
    # wants ISO 8601 with an explicit offset, so anything but an ISO 8601 string (or a
    # datetime/date) is refused.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("must be an ISO 8601 string")
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 string (YYYY-MM-DD...), not a number")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_string_only)]
"""ISO 8601 with an explicit offset; naive timestamps are invalid."""

Day = Annotated[dt.date, BeforeValidator(_iso_string_only)]
"""A calendar date, YYYY-MM-DD."""

ProvinceCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]
DistrictCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{3}$")]
CommuneCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{5}$")]
ComplaintId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
UnitCode = Annotated[str, StringConstraints(min_length=1, max_length=64)]
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=500)]

Category = Literal["missing_record", "incorrect_record", "missing_dose", "certificate", "other"]
Route = Literal["site_system", "jurisdiction", "triage"]
JurisdictionLevel = Literal["province", "district", "commune"]
HandlerLevel = Literal["site", "province", "district", "commune", "national"]
Outcome = Literal["updated", "rejected", "duplicate", "referred"]


# Rule 5: text may not hold NUL, another C0 control character (tab, LF and CR aside) or a
# lone surrogate. PostgreSQL cannot store NUL in text or jsonb, and a lone surrogate cannot
# be encoded as UTF-8 at all: refused at the edge, such an event goes to the dead letter.
_FORBIDDEN_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _char_name(char: str) -> str:
    if char == "\x00":
        return "U+0000 (NUL)"
    if "\ud800" <= char <= "\udfff":
        return f"U+{ord(char):04X} (a lone surrogate)"
    return f"U+{ord(char):04X} (a control character)"


def forbidden_character(text: str) -> bool:
    """Rule 5's test of one string: NUL, another C0 control (tab, LF and CR aside) or a lone surrogate."""
    return _FORBIDDEN_CHAR.search(text) is not None


def forbidden_text(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first string in `value` (keys included) holding a forbidden character, as
    (where, which character); None when all text is clean. Names the place, never the text."""
    if isinstance(value, str):
        found = _FORBIDDEN_CHAR.search(value)
        return (path or "(value)", _char_name(found.group())) if found else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _FORBIDDEN_CHAR.search(key):
                return (path or "(value)", _char_name(_FORBIDDEN_CHAR.search(key).group()) + " in a field name")
            problem = forbidden_text(item, where)
            if problem:
                return problem
    elif isinstance(value, list):
        for n, item in enumerate(value):
            problem = forbidden_text(item, f"{path}.{n}" if path else str(n))
            if problem:
                return problem
    return None


# In JSON text a control character or a surrogate can only be written as a \u escape (raw
# control characters are invalid in JSON strings, and UTF-8 cannot encode a surrogate). No
# candidate escape in the raw bytes: nothing to look for in the parsed value.
_CANDIDATE_ESCAPE = re.compile(rb"\\u(?:00[01][0-9a-fA-F]|[dD][89a-fA-F][0-9a-fA-F]{2})")
TEXT_CHECKED = {"text_checked": True}


def text_context(raw: bytes | str) -> dict[str, bool] | None:
    """The validation context for raw JSON: TEXT_CHECKED when its bytes cannot hold a
    forbidden character (the model then skips its walk over every string), else None."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return None if _CANDIDATE_ESCAPE.search(data) else TEXT_CHECKED


class _CleanText(BaseModel):
    """Input events: every string, known field or not, is free of forbidden characters."""

    @model_validator(mode="before")
    @classmethod
    def _no_forbidden_characters(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get("text_checked"):
            return data
        problem = forbidden_text(data)
        if problem:
            where, char = problem
            raise PydanticCustomError("forbidden_character", "{where} holds {char}", {"where": where, "char": char})
        return data


class _Strict(BaseModel):
    """Nested values: unknown fields are refused, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class _Event(BaseModel):
    """Top-level values: unknown fields are kept, so the contract can grow."""

    model_config = ConfigDict(extra="allow")


class Citizen(_Strict):
    full_name: NonEmpty
    national_id: Annotated[str, StringConstraints(pattern=r"^([0-9]{9}|[0-9]{12})$")] = Field(
        description="CMND (9 digits) or CCCD (12 digits)"
    )
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{8,15}$")]
    birth_date: Day


class Location(_Strict):
    province_code: ProvinceCode | None = None
    district_code: DistrictCode | None = None
    commune_code: CommuneCode | None = None


class Site(_Strict):
    """A vaccination site. Without a site_code it cannot take the complaint itself, but
    its administrative codes still locate the complaint (rule 2)."""

    site_code: Annotated[str, StringConstraints(max_length=64)] | None = None
    name: Annotated[str, StringConstraints(max_length=500)] | None = None
    province_code: ProvinceCode | None = None
    district_code: DistrictCode | None = None
    commune_code: CommuneCode | None = None


class Dose(_Strict):
    """A dose as the citizen reported it. Fields may be missing: routing to the
    vaccination-site system needs at least one dose with number, vaccine and date."""

    dose_number: Annotated[StrictInt, Field(ge=1, le=10)] | None = None
    vaccine: Annotated[str, StringConstraints(max_length=200)] | None = None
    vaccinated_on: Day | None = None
    lot_number: Annotated[str, StringConstraints(max_length=100)] | None = None
    site_code: UnitCode | None = None

    def is_complete(self) -> bool:
        return bool(self.dose_number and self.vaccine and self.vaccine.strip() and self.vaccinated_on)


class Correction(Dose):
    """A change to the citizen's record a result makes (contract, "Closing the loop"): a dose
    in the `doses` shape, with what to do with it. `replace` and `remove` name the
    dose_number they change."""

    action: Literal["add", "replace", "remove"]

    @model_validator(mode="after")
    def _names_the_dose_it_changes(self) -> "Correction":
        if self.action in ("replace", "remove") and self.dose_number is None:
            raise ValueError(f"a correction that would {self.action} a dose names its dose_number")
        return self


class ComplaintSubmitted(_Event, _CleanText):
    schema_version: Literal[1] = 1
    event_id: EventId
    complaint_id: ComplaintId
    recorded_at: Timestamp = Field(description="When the portal recorded the complaint; the 48 h clock starts here")
    citizen: Citizen
    category: Category
    description: Annotated[str, StringConstraints(max_length=5000)]
    location: Location | None = None
    site: Site | None = None
    doses: list[Dose] = Field(default_factory=list)

    @property
    def deadline(self) -> dt.datetime:
        return self.recorded_at + SLA

    def check_not_future(self, now: dt.datetime) -> None:
        """Rule 5: a recorded_at more than 5 minutes ahead of `now` is refused. `now` is the
        Kafka record's timestamp where there is one, so a replay gets the same verdict."""
        _check_not_future("recorded_at", self.recorded_at, now)


def _check_not_future(field: str, moment: dt.datetime, now: dt.datetime) -> None:
    if moment - now > MAX_FUTURE_SKEW:
        raise FutureTimestampError(f"{field} {moment.isoformat()} is more than "
                                   f"{int(MAX_FUTURE_SKEW.total_seconds() // 60)} minutes in the future")


class FutureTimestampError(ValueError):
    """recorded_at lies too far ahead of the receiving clock."""


class Handler(_Strict):
    level: HandlerLevel
    unit_code: UnitCode


class LocationInForce(_Strict):
    """Where the complaint lies in the units of the map it was routed under."""

    province_code: ProvinceCode | None = None
    commune_code: CommuneCode | None = None
    district_code: DistrictCode | None = Field(None, description="Only under the 2021 map")


class Reassignment(_Strict):
    """Where a complaint was before it moved to the unit in force (the cut-over to the map of
    2025, or a revoked delegation)."""

    topic: NonEmpty
    province_code: ProvinceCode | None
    handler: Handler
    reason: Literal["cutover", "revocation"] | None = Field(
        None, description="cutover: to the map in force; revocation: the handler's delegation was revoked")


class Routing(_Strict):
    route: Route
    province_code: ProvinceCode | None
    level: JurisdictionLevel | None = Field(description="null unless route is jurisdiction")
    handler: Handler
    deadline: Timestamp
    routed_at: Timestamp
    warnings: list[str] = Field(default_factory=list)
    admin_map: Literal["2021", "2025"] | None = Field(
        None, description="The administrative map routed under (absent: routed before maps were named, 2021)")
    location_in_force: LocationInForce | None = None
    candidates: list[CommuneCode] | None = Field(
        None, description="With the warning commune_split: the communes in force the old commune became")
    reassigned_from: Reassignment | None = Field(
        None, description="Set when the complaint moved here from another handler; its deadline did not move")

    @model_validator(mode="after")
    def _level_only_for_jurisdiction(self) -> "Routing":
        if (self.route == "jurisdiction") != (self.level is not None):
            raise ValueError("level is set exactly when route is jurisdiction")
        return self


class RoutedComplaint(ComplaintSubmitted):
    """The submitted complaint unchanged, plus its routing block."""

    routing: Routing


class ResolvedBy(_Strict):
    level: HandlerLevel
    unit_code: UnitCode


class ComplaintResolved(_Event, _CleanText):
    schema_version: Literal[1] = 1
    event_id: EventId
    complaint_id: ComplaintId
    resolved_at: Timestamp
    resolved_by: ResolvedBy
    outcome: Outcome
    note: Annotated[str, StringConstraints(max_length=5000)] | None = Field(
        None, description="Internal: never leaves the offices")
    response: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description="For the citizen: what was found and done")
    corrections: list[Correction] | None = Field(
        None, description="Changes to the citizen's vaccination record; only with outcome updated")

    @model_validator(mode="after")
    def _corrections_only_when_updated(self) -> "ComplaintResolved":
        if self.corrections and self.outcome != "updated":
            raise ValueError(f"corrections come only with outcome updated, not {self.outcome}")
        return self

    def check_not_future(self, now: dt.datetime) -> None:
        """Rule 5 for resolutions: resolved_at at most 5 minutes after `now`."""
        _check_not_future("resolved_at", self.resolved_at, now)


class Delegation(_Event, _CleanText):
    """The provincial DoH has given this district or commune unit an account. Under the map
    of 2025 a delegation is to a commune in force and names no district (districts were
    abolished); one that names a district is of the 2021 map."""

    unit_code: Annotated[str, StringConstraints(pattern=r"^([0-9]{3}|[0-9]{5})$")]
    level: Literal["district", "commune"]
    province_code: ProvinceCode
    district_code: DistrictCode | None = Field(None, description="Required under the 2021 map, absent under 2025")
    commune_code: CommuneCode | None = None
    granted_at: Timestamp
    granted_by: UnitCode

    @model_validator(mode="after")
    def _unit_matches_level(self) -> "Delegation":
        if self.level == "district" and self.unit_code != self.district_code:
            raise ValueError("a district delegation's unit_code is its district_code")
        if self.level == "commune":
            if not self.commune_code:
                raise ValueError("a commune delegation needs commune_code")
            if self.unit_code != self.commune_code:
                raise ValueError("a commune delegation's unit_code is its commune_code")
        return self


class ComplaintEscalated(_Event):
    schema_version: Literal[1] = 1
    event_id: EventId
    complaint_id: ComplaintId
    recorded_at: Timestamp
    deadline: Timestamp
    escalated_at: Timestamp
    overdue_seconds: float = Field(ge=0)
    route: Route
    province_code: ProvinceCode | None
    handler: Handler
    stage: Annotated[StrictInt, Field(ge=1)] = Field(description="1 is the 48-hour breach")


class ReadAt(_Strict):
    """Where an event was read."""

    topic: NonEmpty
    partition: Annotated[StrictInt, Field(ge=0)]
    offset: Annotated[StrictInt, Field(ge=0)]


class ResolutionVerdict(_Event):
    """The worker's judgement of a resolution, made once: the record counts what it counts.

    `counted`: the complaint's resolution (one per complaint; `late` when resolved_at is after
    the deadline, `after_escalation` when it was read after the escalation went out); `repeat`:
    another resolution counted first; `refused`: its author does not handle the complaint (also
    dead-lettered, `not_handler`); `expired`: its complaint never came. A resolution that came
    before its complaint is judged when the complaint comes, all of them in resolved_at order.
    """

    schema_version: Literal[1] = 1
    event_id: EventId
    complaint_id: ComplaintId
    verdict: Literal["counted", "repeat", "refused", "expired"]
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
    late: bool | None = None
    after_escalation: bool | None = None
    deadline: Timestamp | None = None
    judged_at: Timestamp
    read_at: ReadAt
    resolution: ComplaintResolved


class Office(_Strict):
    """The unit in force handling a complaint, as the citizen is told (a site's or the national
    triage's name may be unknown)."""

    level: HandlerLevel
    unit_code: UnitCode
    name: Annotated[str, StringConstraints(max_length=500)] | None = None


StatusName = Literal["received", "assigned", "reassigned", "escalated", "resolved"]


class ComplaintStatusChanged(_Event):
    """One change of a complaint's status, for the citizen's portal (complaints.status, keyed by
    complaint_id): once per change, in order per complaint. No personal data beyond the
    complaint id; the internal note never appears, the response for the citizen does."""

    schema_version: Literal[1] = 1
    event_id: EventId
    complaint_id: ComplaintId
    status: StatusName
    at: Timestamp
    office: Office
    expected_by: Timestamp = Field(description="The complaint's deadline (48 hours after recorded_at)")
    outcome: Outcome | None = Field(None, description="With status resolved")
    response: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description="With status resolved: the text for the citizen, if the office wrote one")


class CorrectedBy(_Strict):
    level: HandlerLevel
    unit_code: UnitCode


class RecordCorrection(_Event):
    """What an accepted resolution changes in the citizen's vaccination record, for the registry
    that issues certificates (complaints.record-corrections, keyed by national_id so that one
    citizen's corrections stay in order). Never for a resolution the worker does not count."""

    schema_version: Literal[1] = 1
    event_id: EventId
    complaint_id: ComplaintId
    national_id: Annotated[str, StringConstraints(pattern=r"^([0-9]{9}|[0-9]{12})$")]
    birth_date: Day
    corrections: Annotated[list[Correction], Field(min_length=1)]
    corrected_by: CorrectedBy
    corrected_at: Timestamp = Field(description="The counted resolution's resolved_at")


class HandlerCount(_Strict):
    handler: Handler
    open: Annotated[StrictInt, Field(ge=0)]


class DigestItem(_Strict):
    complaint_id: ComplaintId
    recorded_at: Timestamp
    deadline: Timestamp
    handler: Handler


class DailyDigest(_Event):
    schema_version: Literal[1] = 1
    event_id: EventId
    province_code: ProvinceCode
    digest_date: Day = Field(description="The Asia/Ho_Chi_Minh date of the 07:00 run")
    generated_at: Timestamp
    open_total: Annotated[StrictInt, Field(ge=0)]
    open_by_handler: list[HandlerCount]
    oldest: DigestItem | None
    due_within_24h: list[DigestItem] = Field(description="Earliest deadlines first; at most DIGEST_MAX_ITEMS")
    due_within_24h_total: Annotated[StrictInt, Field(ge=0)] = Field(
        0, description="How many are due within 24 h, also those the list leaves out")


class DeadLetter(_Event):
    error: NonEmpty = Field(description="Machine-readable reason, e.g. invalid_json, validation_error")
    detail: Annotated[str, StringConstraints(max_length=10000)]
    source_topic: NonEmpty
    partition: Annotated[StrictInt, Field(ge=0)]
    offset: Annotated[StrictInt, Field(ge=0)]
    key: str | None
    raw: str = Field(description="The original bytes as text; base64 when raw_encoding is base64")
    raw_encoding: Literal["utf-8", "base64"] = "utf-8"
    failed_at: Timestamp | None = None

    def original_bytes(self) -> bytes:
        """The bytes that were read, exactly."""
        return base64.b64decode(self.raw) if self.raw_encoding == "base64" else self.raw.encode("utf-8", "surrogatepass")


ALL_MODELS: dict[str, type[BaseModel]] = {
    "ComplaintSubmitted": ComplaintSubmitted,
    "RoutedComplaint": RoutedComplaint,
    "ComplaintResolved": ComplaintResolved,
    "Delegation": Delegation,
    "ComplaintEscalated": ComplaintEscalated,
    "DailyDigest": DailyDigest,
    "DeadLetter": DeadLetter,
    "ResolutionVerdict": ResolutionVerdict,
    "ComplaintStatusChanged": ComplaintStatusChanged,
    "RecordCorrection": RecordCorrection,
}

def describe_errors(exc: Exception) -> str:
    """One line per problem, naming the field and the reason (for errors and dead letters)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    lines = []
    for err in errors(include_url=False):
        if err.get("type") == "forbidden_character":  # its message names the field itself
            lines.append(str(err.get("msg")))
            continue
        loc = ".".join(str(part) for part in err.get("loc", ())) or "(value)"
        lines.append(f"{loc}: {err.get('msg')}")
    return "; ".join(lines)
