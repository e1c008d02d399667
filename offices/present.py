"""How the record reads to people: local times, time left, agencies' names, the public
status answer and the SLA chart. Pure functions, unit-tested without a database."""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup, escape

from schemas.admin_units import AdminUnits
from schemas.times import ICT

DUE_SOON = dt.timedelta(hours=24)


def local(at: dt.datetime | None) -> str:
    """A time as people in Vietnam read it: day/month/year hour:minute, UTC+7."""
    return "" if at is None else at.astimezone(ICT).strftime("%d/%m/%Y %H:%M")


def urgency(deadline: dt.datetime, now: dt.datetime) -> tuple[str, int]:
    """("overdue" | "due_soon" | "in_time", whole hours left or overdue, at least 0)."""
    left = deadline - now
    if left < dt.timedelta(0):
        return "overdue", int(-left.total_seconds() // 3600)
    return ("due_soon" if left <= DUE_SOON else "in_time"), int(left.total_seconds() // 3600)


AGENCIES = {
    "province": ("Sở Y tế {name}", "Department of Health, {name}"),
    "district": ("Trung tâm Y tế {name}", "District health centre, {name}"),
    "commune": ("Trạm Y tế {name}", "Commune health station, {name}"),
    "site": ("Điểm tiêm chủng {name}", "Vaccination site {name}"),
    "national": ("Bộ Y tế (tổ tiếp nhận phản ánh)", "Ministry of Health (national triage desk)"),
}


def agency(units: AdminUnits, level: str | None, unit_code: str | None, lang: str = "vi",
           site_name: str | None = None) -> str:
    """The office that handles it, by name (a unit's name, never a person's)."""
    if level is None:
        return {"vi": "Đang phân luồng", "en": "Being routed"}[lang]
    vi, en = AGENCIES.get(level, ("{name}", "{name}"))
    lookup = {"province": units.province, "district": units.district, "commune": units.commune}.get(level)
    unit = lookup(unit_code) if lookup else None
    name = unit.name if unit else (site_name or unit_code or "")
    return (vi if lang == "vi" else en).format(name=name)


STATUS_NOTES = {
    "routing": ("Đã tiếp nhận, đang chuyển đến đơn vị xử lý.", "Received; being passed to the office that handles it."),
    "open": ("Đang xem xét; kết quả trước {deadline}.", "Under review; a result is due by {deadline}."),
    "overdue": ("Đang xem xét; đã quá hạn 48 giờ và được báo cáo lên cấp trên.",
                "Under review; the 48 hours have passed and it was escalated."),
    "updated": ("Đã xử lý: dữ liệu tiêm chủng đã được cập nhật.", "Closed: the vaccination record was updated."),
    "rejected": ("Đã xử lý: không có cơ sở để điều chỉnh dữ liệu.", "Closed: no grounds were found to change the record."),
    "duplicate": ("Đã xử lý: trùng với một phản ánh khác.", "Closed: a duplicate of another complaint."),
    "referred": ("Đã xử lý: đã chuyển đến đơn vị có thẩm quyền.", "Closed: referred to the competent office."),
}


def phone_matches(phone: str | None, last4: str | None) -> bool:
    """True when `last4` is the last four digits of the phone on the complaint."""
    import hmac

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
    notes = STATUS_NOTES[note][0 if lang == "vi" else 1]
    return {
        "service_request_id": row["complaint_id"],
        "status": "closed" if resolved else "open",
        "status_notes": notes.format(deadline=local(row["deadline"])),
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
