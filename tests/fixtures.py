"""Shared test data: the public routing fixtures and a complaint factory."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

# The public routing examples of the contract (docs/contract.md), kept with the tests.
ROUTING_CASES = Path(__file__).resolve().parent / "data" / "routing-cases.jsonl"


def routing_cases() -> list[dict[str, Any]]:
    with open(ROUTING_CASES, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


BASE_COMPLAINT: dict[str, Any] = {
    "schema_version": 1,
    "event_id": "ev-base",
    "complaint_id": "base",
    "recorded_at": "2021-11-08T09:00:00+07:00",
    "citizen": {"full_name": "Trần Thị Bình", "national_id": "079190001234", "phone": "0901234567",
                "birth_date": "1985-02-01"},
    "category": "missing_record",
    "description": "Chưa có mũi 1 trên hệ thống",
    "location": {"province_code": None, "district_code": None, "commune_code": None},
    "site": None,
    "doses": [],
}


def complaint(complaint_id: str | None = None, *, province: str | None = None, district: str | None = None,
              commune: str | None = None, site: dict | None = None, doses: list | None = None,
              **overrides: Any) -> dict[str, Any]:
    """A valid ComplaintSubmitted as a dict, with the location and site given."""
    c = copy.deepcopy(BASE_COMPLAINT)
    cid = complaint_id or f"T-{uuid.uuid4().hex[:12]}"
    c["complaint_id"] = cid
    c["event_id"] = f"ev-{cid}-{uuid.uuid4().hex[:6]}"
    c["location"] = {"province_code": province, "district_code": district, "commune_code": commune}
    c["site"] = site
    c["doses"] = doses or []
    c.update(overrides)
    return c


FULL_DOSE = {"dose_number": 1, "vaccine": "Pfizer", "vaccinated_on": "2021-08-01"}
