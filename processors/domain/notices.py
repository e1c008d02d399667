"""What the worker tells beyond the offices (contract, "Closing the loop"): each change of a
complaint's status, for the portal, and the corrections an accepted resolution makes to the
citizen's vaccination record, for the immunization registry.

Both are sent in the shard's transaction with the change that causes them, so each is sent
exactly once; a complaint's status changes are keyed by its id, so they stay in order.
"""

from __future__ import annotations

import datetime as dt

from processors import metrics
from processors.domain.ports import Context, Record
from processors.domain.state import ComplaintState
from schemas.admin_units import AdminUnits
from schemas.models import ComplaintResolved, ComplaintStatusChanged, ComplaintSubmitted, RecordCorrection, StatusName
from schemas.topics import Topics


def keep_for_notices(state: ComplaintState, complaint: ComplaintSubmitted) -> None:
    """What the notices of an open complaint need later, kept in its state: the citizen's
    national ID and birth date (for the registry) and a site's name (for the citizen)."""
    state.citizen = [complaint.citizen.national_id, complaint.citizen.birth_date.isoformat()]
    if state.route == "site_system" and complaint.site is not None:
        state.site_name = complaint.site.name


class Notices:
    def __init__(self, topics: Topics, units: AdminUnits) -> None:
        self.topics = topics
        self.units = units

    def office(self, level: str, unit_code: str, state: ComplaintState) -> dict[str, str | None]:
        name = state.site_name if level == "site" else self.units.name(level, unit_code)
        return {"level": level, "unit_code": unit_code, "name": name}

    def status(self, ctx: Context, cid: str, state: ComplaintState, status: StatusName, at: dt.datetime,
               resolution: ComplaintResolved | None = None) -> None:
        """One status change; the office is the resolver for `resolved`, else the handler."""
        assert state.handler is not None and state.deadline is not None
        by = resolution.resolved_by if resolution is not None else None
        office = (self.office(by.level, by.unit_code, state) if by is not None
                  else self.office(state.handler["level"], state.handler["unit_code"], state))
        number = (state.status_sent or 0) + 1
        event = ComplaintStatusChanged(
            event_id=f"status-{cid}-{number}", complaint_id=cid, status=status, at=at, office=office,
            expected_by=state.due, outcome=resolution.outcome if resolution is not None else None,
            response=resolution.response if resolution is not None else None)
        state.status_sent = number
        ctx.send(Record(self.topics.status, cid.encode(), event.model_dump_json(exclude_none=True).encode(), True))
        metrics.STATUS_CHANGES.labels(status=status).inc()

    def received(self, ctx: Context, cid: str, state: ComplaintState) -> None:
        """A complaint just routed: received (when the portal recorded it) and assigned."""
        assert state.routed_at is not None
        self.status(ctx, cid, state, "received", state.recorded)
        self.status(ctx, cid, state, "assigned", dt.datetime.fromisoformat(state.routed_at))

    def resolved(self, ctx: Context, cid: str, state: ComplaintState, resolution: ComplaintResolved) -> None:
        """The counted resolution: the citizen's status, and its corrections for the registry.
        The complaint is closed: the citizen's data it kept is dropped."""
        self.status(ctx, cid, state, "resolved", resolution.resolved_at, resolution)
        if resolution.corrections:
            if state.citizen is None:  # routed before the worker kept it: nothing to address it to
                metrics.CORRECTIONS.labels(effect="unaddressed").inc()
            else:
                national_id, birth_date = state.citizen
                event = RecordCorrection(
                    event_id=f"correction-{resolution.event_id}", complaint_id=cid, national_id=national_id,
                    birth_date=birth_date, corrections=resolution.corrections,
                    corrected_by={"level": resolution.resolved_by.level, "unit_code": resolution.resolved_by.unit_code},
                    corrected_at=resolution.resolved_at)
                ctx.send(Record(self.topics.record_corrections, national_id.encode(),
                                event.model_dump_json(exclude_none=True).encode()))
                metrics.CORRECTIONS.labels(effect="sent").inc()
        state.citizen = state.site_name = None
