"""The publishing library for portal backends, on kafka-python.

Every event is validated against the contract before it is sent: an invalid one raises
InvalidEvent and never reaches Kafka. The producer is idempotent with acks=all, and a
send returns only once the broker has confirmed it (or raises PublishError).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kafka import KafkaProducer
from kafka.errors import KafkaError, TopicAuthorizationFailedError
from pydantic import BaseModel, ValidationError

from schemas.admin_units import AdminUnits, load as load_units
from schemas.checks import delegation_problem, grant_authority_problem, resolution_problem
from schemas.models import (MAX_EVENT_BYTES, ComplaintResolved, ComplaintSubmitted, Delegation, FutureTimestampError,
                            describe_errors)
from schemas.settings import Settings
from schemas.times import utcnow

M = TypeVar("M", bound=BaseModel)

# Confirmed, ordered, never duplicated by the client's own retries.
PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "max_in_flight_requests_per_connection": 5,
    "retries": 2147483647,
    "delivery_timeout_ms": 120_000,
    "linger_ms": 5,
    "compression_type": None,
}


class InvalidEvent(ValueError):
    """The event breaks the contract; it was not sent."""


class PublishError(RuntimeError):
    """Kafka did not confirm the event."""


def validate(model: type[M], event: M | Mapping[str, Any] | str | bytes) -> M:
    if isinstance(event, (str, bytes)) and len(event) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"invalid {model.__name__}: {len(event):,} bytes; at most {MAX_EVENT_BYTES:,}")
    try:
        if isinstance(event, model):
            return model.model_validate(event.model_dump())
        if isinstance(event, (str, bytes)):
            return model.model_validate_json(event)
        return model.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid {model.__name__}: {describe_errors(exc)}") from exc


class ComplaintPublisher:
    """Publishes ComplaintSubmitted, ComplaintResolved and Delegation events.

    Use as a context manager, or call close(). `wait=False` on a publish call queues the
    event and returns its future; flush() then confirms them all.
    """

    def __init__(self, settings: Settings | None = None, *, clock: Callable[[], dt.datetime] = utcnow,
                 timeout_s: float = 30.0, role: str = "portal", **producer_config: Any) -> None:
        """`role` picks the Kafka identity when KAFKA_CLIENT_PROPERTIES names no file: its
        file in KAFKA_CLIENTS_DIR (schemas/kafka_client.py)."""
        self.settings = settings or Settings.from_env()
        self.role = role
        self.topics = self.settings.topics
        # The principal the broker knows this client as: it decides where resolutions and
        # delegations may go ("Who sent it"). None: a broker without authentication.
        self.principal = self.settings.kafka(role).username
        self.clock = clock
        self.timeout_s = timeout_s
        self._pending: list[Any] = []
        self._producer = KafkaProducer(
            **self.settings.kafka_python(self.role),
            client_id="complaints-publisher",
            **{**PRODUCER_CONFIG, **producer_config},
        )

    # -- the contract's events ---------------------------------------------------------
    def publish_complaint(self, event: ComplaintSubmitted | Mapping[str, Any] | str | bytes, *, wait: bool = True):
        complaint = validate(ComplaintSubmitted, event)
        try:
            complaint.check_not_future(self.clock())
        except FutureTimestampError as exc:
            raise InvalidEvent(f"invalid ComplaintSubmitted: {exc}") from exc
        return self._send(self.topics.submitted, complaint.complaint_id, _dump(complaint), wait)

    def publish_resolution(self, event: ComplaintResolved | Mapping[str, Any] | str | bytes, *, wait: bool = True):
        resolution = validate(ComplaintResolved, event)
        try:
            resolution.check_not_future(self.clock())
        except FutureTimestampError as exc:
            raise InvalidEvent(f"invalid ComplaintResolved: {exc}") from exc
        units = load_units(self.topics.admin_map)
        problem = resolution_problem(resolution, units)
        if problem:
            raise InvalidEvent(f"invalid ComplaintResolved: {problem}")
        topic = self.resolution_topic(resolution.resolved_by.level, resolution.resolved_by.unit_code, units)
        return self._send(topic, resolution.complaint_id, _dump(resolution), wait)

    def resolution_topic(self, level: str, unit_code: str, units: AdminUnits) -> str:
        """Where this client's resolutions go: its principal's own topic (office-<PP>,
        site-system, triage); for admin, or a broker without authentication, the topic of the
        writer the resolver is (its province's office, the site system, triage)."""
        writer = self._writer()
        if writer is None:  # admin: as the resolver's own writer would
            if level == "site":
                return self.topics.resolved_by_site_system
            if level == "national":
                return self.topics.resolved_by_triage
            province = units.province_in_force(units.province_of(level, unit_code) or (
                units.history.districts[unit_code].parent if unit_code in units.history.districts else
                units.history.communes[unit_code].province_code if unit_code in units.history.communes else
                unit_code))
            return self.topics.resolved_by_office(province or unit_code)
        kind, province = writer
        if kind == "office":
            if units.province_of(level, unit_code) != province:
                raise InvalidEvent(f"invalid ComplaintResolved: {self.principal} writes the results of province "
                                   f"{province} and its units; resolved_by {level} {unit_code} is not one")
            return self.topics.resolved_by_office(province)
        return self.topics.resolved_by_site_system if kind == "site-system" else self.topics.resolved_by_triage

    def _writer(self) -> tuple[str, str | None] | None:
        """(kind, province) of this client's principal as a writer; None for admin (or no
        authentication); InvalidEvent for a principal that writes no results or grants."""
        principal = self.principal
        if principal in (None, "admin"):
            return None
        if principal.startswith("office-"):
            return "office", principal.removeprefix("office-")
        if principal in ("site-system", "triage"):
            return principal, None
        raise InvalidEvent(f"{principal} writes no resolutions or delegations: office-<PP> writes a province's on "
                           f"complaints.resolved.<PP> and complaints.delegations.<PP>, site-system and triage "
                           f"their own results")

    def _delegations_topic(self, province: str) -> str:
        writer = self._writer()
        if writer is not None and writer != ("office", province):
            raise InvalidEvent(f"invalid Delegation: {self.principal} grants and revokes units of its own province "
                               f"only, not of {province} (complaints.delegations.{province} is office-{province}'s)")
        return self.topics.delegations_of(province)

    def grant_delegation(self, event: Delegation | Mapping[str, Any] | str | bytes, *, wait: bool = True):
        grant = validate(Delegation, event)
        problem = delegation_problem(grant, load_units(self.topics.admin_map)) or grant_authority_problem(grant)
        if problem:
            raise InvalidEvent(f"invalid Delegation: {problem}")
        return self._send(self._delegations_topic(grant.province_code), grant.unit_code, _dump(grant), wait)

    def revoke_delegation(self, unit_code: str, *, wait: bool = True):
        """A null value on the province's compacted topic revokes the unit's account."""
        if not unit_code or not unit_code.isdigit() or len(unit_code) not in (3, 5):
            raise InvalidEvent(f"unit_code must be a 3-digit district or 5-digit commune code, got {unit_code!r}")
        units = load_units(self.topics.admin_map)
        province = units.province_of("commune" if len(unit_code) == 5 else "district", unit_code)
        if province is None:
            raise InvalidEvent(f"unit_code: no unit of the map in force has code {unit_code!r}")
        return self._send(self._delegations_topic(province), unit_code, None, wait)

    # -- raw access, for tests and the load generator's malformed share ------------------
    def publish_raw(self, topic: str, key: str | None, value: bytes | None, *, wait: bool = True):
        """Send bytes without validation. Portal backends should not need this."""
        return self._send(topic, key, value, wait)

    # -- delivery --------------------------------------------------------------------------
    def _send(self, topic: str, key: str | None, value: bytes | None, wait: bool):
        future = self._producer.send(topic, key=key.encode() if key is not None else None, value=value)
        if not wait:
            self._pending.append(future)
            return future
        try:
            return future.get(timeout=self.timeout_s)
        except TopicAuthorizationFailedError as exc:
            raise PublishError(self._refused(topic)) from exc
        except KafkaError as exc:
            raise PublishError(f"{topic}: not confirmed: {exc}") from exc

    def _refused(self, topic: str) -> str:
        """The broker refused the topic: say where this principal may write instead."""
        who = self.principal or self.role
        if topic in (self.topics.resolved, self.topics.delegations):
            own = {"site-system": self.topics.resolved_by_site_system, "triage": self.topics.resolved_by_triage}
            kind = "resolutions" if topic == self.topics.resolved else "delegations"
            if who.startswith("office-"):
                pp = who.removeprefix("office-")
                new = self.topics.resolved_by_office(pp) if kind == "resolutions" else self.topics.delegations_of(pp)
            else:
                new = own.get(who, f"{topic}.<PP> (office-<PP>)")
            return (f"{topic} is admin's now (replays, migration): {who} may not write it; {who}'s {kind} go to "
                    f"{new} (publish_resolution and grant_delegation choose it)")
        return f"{topic}: {who} may not write it (the broker's ACLs)"

    def flush(self) -> int:
        """Wait for every queued event; return how many were confirmed, raise if any failed."""
        self._producer.flush(timeout=self.timeout_s)
        failed = []
        for future in self._pending:
            try:
                future.get(timeout=self.timeout_s)
            except KafkaError as exc:
                failed.append(exc)
        confirmed = len(self._pending) - len(failed)
        self._pending.clear()
        if failed:
            raise PublishError(f"{len(failed)} events not confirmed; first: {failed[0]}")
        return confirmed

    def close(self) -> None:
        try:
            if self._pending:
                self.flush()
        finally:
            self._producer.close(timeout=self.timeout_s)

    def __enter__(self) -> "ComplaintPublisher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dump(model: BaseModel) -> bytes:
    """The event as sent; refused when larger than the router reads (MAX_EVENT_BYTES)."""
    value = _encode(model)
    if len(value) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"invalid {type(model).__name__}: {len(value):,} bytes; at most {MAX_EVENT_BYTES:,}")
    return value


def _encode(model: BaseModel) -> bytes:
    return model.model_dump_json().encode("utf-8")


def loads_events(text: str) -> list[dict[str, Any]]:
    """One JSON object, a JSON array of objects, or JSON Lines."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        return [json.loads(line) for line in stripped.splitlines() if line.strip()]
    return value if isinstance(value, list) else [value]
