"""What the worker keeps per complaint, typed: the value of its `complaints` table.

Stored as a JSON object (Faust's untyped tables use JSON), with the same keys the table
has always held, so tables written before this type existed read back unchanged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ComplaintState:
    """One complaint's routing, deadline and resolution. A resolution that arrives before
    its complaint leaves a state with no route yet (`routed` is False): pending."""

    route: str | None = None
    topic: str | None = None
    province_code: str | None = None
    handler: dict[str, str] | None = None  # {"level", "unit_code"}
    recorded_at: str | None = None  # ISO 8601, as the complaint gave it
    deadline: str | None = None
    routed_at: str | None = None
    escalated: list[int] = field(default_factory=list)  # stages already emitted
    resolved_at: str | None = None  # the counted resolution's (one per complaint, never replaced)
    resolved_by: dict[str, str] | None = None
    pending_since: str | None = None  # when the first resolution started waiting for its complaint
    # Retired: where a single waiting resolution was read (states written before `waiting`).
    pending_from: list | None = None
    # The administrative map the route is of ("2021", "2025"); None: routed before maps were
    # named, under 2021. The cut-over moves open complaints of an older map (processors/ops/cutover.py).
    admin_map: str | None = None
    resolution_id: str | None = None  # the counted resolution's event_id: its retry changes nothing
    # Resolutions read before their complaint, each [partition, offset, key, value as text]:
    # all judged when it comes, in resolved_at order (processors/domain/clock.py).
    waiting: list | None = None
    # The routed submission: [event_id, digest of its content]; another content under the same
    # complaint_id is a conflicting resubmission, not a retry.
    submission: list | None = None
    # The submission as read, kept only while a delegated unit handles it: if the delegation is
    # revoked, the complaint is routed again to its province from it. (Personal data: it is in
    # the worker's changelog topic, which only the router and admin may read.)
    body: str | None = None
    # The citizen's [national_id, birth_date], kept only while the complaint is open: an accepted
    # resolution's corrections go to the registry under them (personal data, as `body`).
    citizen: list | None = None
    site_name: str | None = None  # a site route's site, named to the citizen
    status_sent: int | None = None  # status changes sent to the portal so far (names the next one)

    @classmethod
    def from_value(cls, value: Any) -> ComplaintState | None:
        if not isinstance(value, dict):
            return None
        known = {k: v for k, v in value.items() if k in _FIELDS}
        state = cls(**known)
        if state.pending_from and not state.routed:  # one waiting resolution, as states before `waiting` kept it
            state.waiting, state.pending_from = [state.pending_from], None
            state.resolved_at = state.resolved_by = None
        return state

    def to_value(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies, and was a quarter of the router's own time.
        value = {}
        for name in _ORDER:
            item = getattr(self, name)
            if item is not None:
                value[name] = item
        return value

    @property
    def routed(self) -> bool:
        return self.route is not None

    @property
    def is_open(self) -> bool:
        """Routed and not resolved: what the offices still have to handle."""
        return self.routed and self.resolved_at is None

    @property
    def recorded(self) -> dt.datetime:
        assert self.recorded_at is not None
        return dt.datetime.fromisoformat(self.recorded_at)

    @property
    def due(self) -> dt.datetime:
        assert self.deadline is not None
        return dt.datetime.fromisoformat(self.deadline)

    @property
    def resolved(self) -> dt.datetime | None:
        return None if self.resolved_at is None else dt.datetime.fromisoformat(self.resolved_at)


_ORDER = tuple(ComplaintState.__dataclass_fields__)
_FIELDS = set(_ORDER)
