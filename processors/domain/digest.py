"""The daily digest: per province, the open complaints an office must assign staff to.

Each worker computes a part per province from the partitions it owns and sends it to an
internal topic keyed by province; one aggregator per province merges the parts of every
partition and emits the DailyDigest once they are all in (processors/engine/app.py).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable
from typing import Any

from processors.domain.state import ComplaintState
from schemas.admin_units import AdminUnits
from schemas.models import DUE_SOON, DailyDigest



def _item(cid: str, state: ComplaintState) -> dict[str, Any]:
    return {"complaint_id": cid, "recorded_at": state.recorded_at, "deadline": state.deadline,
            "handler": state.handler}


def _order(item: dict[str, Any]) -> tuple[float, str]:
    return dt.datetime.fromisoformat(item["deadline"]).timestamp(), item["complaint_id"]


class PartBuilder:
    """Accumulates one partition's records into a part per province of the map in force (all
    of them, empty ones too, so the aggregator can count them), in bounded memory. A complaint
    routed to an old province before the cut-over counts for its successor."""

    def __init__(self, now: dt.datetime, max_items: int, units: AdminUnits) -> None:
        self.now = now
        self.horizon = now + DUE_SOON
        self.max_items = max_items
        self.units = units
        self.parts: dict[str, dict[str, Any]] = {
            p: {"open_by_handler": {}, "oldest": None, "due": [], "due_total": 0} for p in units.province_codes()}
        self._due_heaps: dict[str, list] = {p: [] for p in self.parts}

    def add(self, cid: str, state: ComplaintState) -> None:
        province = self.units.province_in_force(state.province_code)
        if not state.is_open or province not in self.parts:
            return  # triage has no province: the national queue is not in a provincial digest
        assert state.handler is not None
        part = self.parts[province]
        handler = f"{state.handler['level']}|{state.handler['unit_code']}"
        part["open_by_handler"][handler] = part["open_by_handler"].get(handler, 0) + 1
        item = _item(cid, state)
        oldest = part["oldest"]
        if oldest is None or _age(item) < _age(oldest):
            part["oldest"] = item
        deadline = state.due
        if self.now <= deadline <= self.horizon:
            part["due_total"] += 1
            # Keep the max_items earliest deadlines: a max-heap on the negated order.
            heap = self._due_heaps[province]
            entry = (-deadline.timestamp(), _neg(cid), item)
            if len(heap) < self.max_items:
                heapq.heappush(heap, entry)
            elif entry > heap[0]:
                heapq.heapreplace(heap, entry)

    def build(self) -> dict[str, dict[str, Any]]:
        for province, part in self.parts.items():
            part["due"] = sorted((entry[2] for entry in self._due_heaps[province]), key=_order)
        return self.parts


def _age(item: dict[str, Any]) -> tuple[float, str]:
    return dt.datetime.fromisoformat(item["recorded_at"]).timestamp(), item["complaint_id"]


def _neg(text: str) -> tuple[int, ...]:
    """Orders strings in reverse, for the max-heap's tie-break."""
    return tuple(-ord(ch) for ch in text)


def merge(province: str, digest_date: dt.date, collected: Iterable[dict[str, Any]], now: dt.datetime,
          max_items: int) -> DailyDigest:
    by_handler: dict[str, int] = {}
    oldest = None
    due: list[dict[str, Any]] = []
    due_total = 0
    for part in collected:
        for handler, n in part["open_by_handler"].items():
            by_handler[handler] = by_handler.get(handler, 0) + n
        candidate = part["oldest"]
        if candidate and (oldest is None or _age(candidate) < _age(oldest)):
            oldest = candidate
        due.extend(part["due"])
        due_total += part["due_total"]
    handlers = []
    for key, n in sorted(by_handler.items(), key=lambda kv: (-kv[1], kv[0])):
        level, _, unit = key.partition("|")
        handlers.append({"handler": {"level": level, "unit_code": unit}, "open": n})
    return DailyDigest(
        event_id=f"digest-{province}-{digest_date.isoformat()}",
        province_code=province,
        digest_date=digest_date,
        generated_at=now,
        open_total=sum(by_handler.values()),
        open_by_handler=handlers,
        oldest=oldest,
        due_within_24h=sorted(due, key=_order)[:max_items],
        due_within_24h_total=due_total,
    )


def add_part(entry: dict[str, Any] | None, province: str, body: dict[str, Any], now: dt.datetime,
             max_items: int) -> tuple[dict[str, Any] | None, DailyDigest | None]:
    """One partition's part of a province's digest of a day, added to what was collected
    (`entry`, None at first). Returns the entry to store (None: nothing changes, the part
    was seen or the day's digest already went out) and the digest once every partition's
    part is in."""
    entry = entry or {"parts": {}, "emitted": False}
    if entry["emitted"] or str(body["partition"]) in entry["parts"]:
        return None, None
    parts = {**entry["parts"], str(body["partition"]): body["part"]}
    if len(parts) < body["partitions"]:
        return {"parts": parts, "emitted": False}, None
    digest = merge(province, dt.date.fromisoformat(body["digest_date"]), parts.values(), now, max_items)
    return {"parts": {}, "emitted": True}, digest
