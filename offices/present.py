"""How the record reads to people: local times, time left, agencies' names, the public
status answer and the SLA chart. Pure functions, unit-tested without a database."""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

from markupsafe import Markup, escape

from offices.i18n import translate
from schemas.admin_units import AdminUnits
from schemas.models import DUE_SOON
from schemas.times import ICT



def local(at: dt.datetime | None) -> str:
    """A time as people in Vietnam read it: day/month/year hour:minute, UTC+7."""
    return "" if at is None else at.astimezone(ICT).strftime("%d/%m/%Y %H:%M")


def urgency(deadline: dt.datetime, now: dt.datetime) -> tuple[str, int]:
    """("overdue" | "due_soon" | "in_time", whole hours left or overdue, at least 0)."""
    left = deadline - now
    if left < dt.timedelta(0):
        return "overdue", int(-left.total_seconds() // 3600)
    return ("due_soon" if left <= DUE_SOON else "in_time"), int(left.total_seconds() // 3600)


def unit_name(units: AdminUnits, level: str | None, code: str | None) -> str:
    """A province's, district's or commune's name; other codes (sites, VN) as they are."""
    return units.name(level, code) or (code or "")


def agency(units: AdminUnits, level: str | None, unit_code: str | None, lang: str = "vi",
           site_name: str | None = None) -> str:
    """The office that handles it, by name (a unit's name, never a person's)."""
    if level is None:
        return translate(lang, "agency_routing")
    name = site_name if level == "site" and site_name else unit_name(units, level, unit_code)
    return translate(lang, f"agency_{level}", name=name)


def phone_matches(phone: str | None, last4: str | None) -> bool:
    """True when `last4` is the last four digits of the phone on the complaint."""
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())
    if not last4 or len(last4) != 4 or not last4.isdigit() or len(digits) < 4:
        return False
    return hmac.compare_digest(digits[-4:], last4)


def open311(row: dict[str, Any], units: AdminUnits, now: dt.datetime, lang: str = "vi") -> dict[str, Any]:
    """A GeoReport v2 service request for the public lookup: no name, ID, phone or birth date."""
    resolved = row["resolved_at"] is not None
    if resolved:
        note = row["outcome"]
        level, unit = row["resolved_by_level"], row["resolved_by_unit"]
    else:
        level, unit = row["handler_level"], row["handler_unit"]
        note = "routing" if row["route"] is None else "overdue" if row["deadline"] < now else "open"
    times = [t for t in (row["recorded_at"], row["routed_at"], row["escalated_at"], row["resolved_at"]) if t]
    notes = translate(lang, f"status_{note}", deadline=local(row["deadline"]))
    if resolved and row.get("response"):  # the office's words for the citizen (contract, "Closing the loop")
        notes = f"{notes} {row['response']}"
    return {
        "service_request_id": row["complaint_id"],
        "status": "closed" if resolved else "open",
        "status_notes": notes,
        "service_code": row["category"],
        "agency_responsible": agency(units, level, unit, lang, row["site_name"]),
        "requested_datetime": row["recorded_at"].astimezone(ICT).isoformat(timespec="seconds"),
        "expected_datetime": row["deadline"].astimezone(ICT).isoformat(timespec="seconds"),
        "updated_datetime": max(times).astimezone(ICT).isoformat(timespec="seconds"),
    }


CHART_COLOURS = (("in_time", "#2e7d32"), ("late", "#ef6c00"), ("overdue", "#c62828"), ("open", "#90a4ae"))


def sla_chart(days: list[dict[str, Any]], labels: dict[str, str], width: int = 720, height: int = 200) -> Markup:
    """Stacked bars per day (SVG, no script): in time, late, overdue, open."""
    top = max((sum(d[k] for k, _ in CHART_COLOURS) for d in days), default=0) or 1
    bar = width / max(len(days), 1)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height + 40}" role="img" '
             f'aria-label="{escape(labels["title"])}" xmlns="http://www.w3.org/2000/svg">']
    for i, d in enumerate(days):
        y = float(height)
        x = i * bar + 1
        for key, colour in CHART_COLOURS:
            h = d[key] / top * height
            if h:
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" fill="{colour}">'
                             f'<title>{d["day"]:%d/%m} {escape(labels[key])}: {d[key]}</title></rect>')
        if i % 5 == 0 or i == len(days) - 1:
            last = i == len(days) - 1  # the last label ends at its bar, inside the picture
            anchor = ' text-anchor="end"' if last else ""
            parts.append(f'<text x="{x + bar - 2 if last else x:.1f}" y="{height + 16}" font-size="11"{anchor}>'
                         f'{d["day"]:%d/%m}</text>')
    legend_x = 0
    for key, colour in CHART_COLOURS:
        parts.append(f'<rect x="{legend_x}" y="{height + 26}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{legend_x + 14}" y="{height + 35}" font-size="11">{escape(labels[key])}</text>')
        legend_x += 150
    parts.append("</svg>")
    return Markup("".join(parts))
