"""The console's pure parts: words in both languages, urgency, the public answer, the chart."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from offices import i18n
from offices.accounts import AccountError, unit_province
from offices.present import agency, local, open311, phone_matches, sla_chart, urgency
from schemas.admin_units import load

UNITS = load("2021")
IN_FORCE = load("2025")
UTC = dt.timezone.utc
TEMPLATES = Path(__file__).resolve().parents[1] / "offices" / "templates"


def test_every_text_has_both_languages_and_every_template_key_exists():
    for key, pair in i18n.CATALOGUE.items():
        assert len(pair) == len(i18n.LANGUAGES) and all(text.strip() for text in pair), key
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r't\("([a-z0-9_]+)"[,)]', template.read_text()))
    assert used and not used - set(i18n.CATALOGUE), sorted(used - set(i18n.CATALOGUE))
    # keys built in templates from values: every value has its text
    for prefix, values in (("cat_", ("missing_record", "incorrect_record", "missing_dose", "certificate", "other")),
                           ("lvl_", ("province", "district", "commune", "site", "national")),
                           ("outcome_", ("updated", "rejected", "duplicate", "referred")),
                           ("ev_", ("submitted", "routed", "reassigned", "escalated", "resolved"))):
        assert all(prefix + v in i18n.CATALOGUE for v in values), prefix
    assert i18n.translate("en", "hours_left", h=3) == "3 h left"
    assert i18n.translate("xx", "sign_in") == "Đăng nhập"  # an unknown language falls back to Vietnamese


def test_times_read_in_vietnam_and_urgency_by_deadline():
    at = dt.datetime(2026, 11, 26, 14, 38, tzinfo=UTC)
    assert local(at) == "26/11/2026 21:38"
    assert urgency(at, at - dt.timedelta(hours=30)) == ("in_time", 30)
    assert urgency(at, at - dt.timedelta(hours=23, minutes=59)) == ("due_soon", 23)
    assert urgency(at, at + dt.timedelta(hours=5, minutes=1)) == ("overdue", 5)


def test_phone_check_takes_exactly_the_last_four_digits():
    assert phone_matches("0901234567", "4567")
    assert phone_matches("+84 90 123 4567", "4567")
    for wrong in ("4568", "567", "04567", "", None, "45a7"):
        assert not phone_matches("0901234567", wrong)
    assert not phone_matches(None, "4567")


def status_row(**changes):
    row = {"complaint_id": "C-1", "category": "missing_record",
           "recorded_at": dt.datetime(2026, 11, 24, 2, 0, tzinfo=UTC),
           "deadline": dt.datetime(2026, 11, 26, 2, 0, tzinfo=UTC), "stored_at": None,
           "phone": "0901234567", "site_name": None, "route": "jurisdiction", "province_code": "79",
           "handler_level": "district", "handler_unit": "760", "routed_at": dt.datetime(2026, 11, 24, 2, 0, 1, tzinfo=UTC),
           "resolved_at": None, "outcome": None, "resolved_by_level": None, "resolved_by_unit": None,
           "escalated_at": None}
    row.update(changes)
    return row


def test_the_public_answer_uses_open311_names_and_holds_no_personal_data():
    now = dt.datetime(2026, 11, 25, tzinfo=UTC)
    answer = open311(status_row(), UNITS, now)
    assert answer["service_request_id"] == "C-1" and answer["status"] == "open"
    assert answer["agency_responsible"] == "Trung tâm Y tế Quận 1"
    assert answer["requested_datetime"] == "2026-11-24T09:00:00+07:00"
    assert answer["expected_datetime"] == "2026-11-26T09:00:00+07:00"
    assert answer["updated_datetime"] == "2026-11-24T09:00:01+07:00"
    assert "26/11/2026 09:00" in answer["status_notes"]
    text = json.dumps(answer, ensure_ascii=False)
    assert "0901234567" not in text and "4567" not in text

    closed = open311(status_row(resolved_at=dt.datetime(2026, 11, 25, 1, tzinfo=UTC), outcome="updated",
                                resolved_by_level="province", resolved_by_unit="79",
                                escalated_at=dt.datetime(2026, 11, 26, 2, 0, 1, tzinfo=UTC)), UNITS, now, "en")
    assert closed["status"] == "closed" and closed["status_notes"].startswith("Closed: the vaccination record")
    assert closed["agency_responsible"] == "Department of Health, Thành phố Hồ Chí Minh"
    assert closed["updated_datetime"] == "2026-11-26T09:00:01+07:00"
    overdue = open311(status_row(), UNITS, dt.datetime(2026, 11, 27, tzinfo=UTC), "en")
    assert overdue["status"] == "open" and "escalated" in overdue["status_notes"]
    waiting = open311(status_row(route=None, handler_level=None, handler_unit=None), UNITS, now, "en")
    assert waiting["agency_responsible"] == "Being routed"


def test_agencies_by_level():
    assert agency(UNITS, "national", "VN") == "Bộ Y tế (tổ tiếp nhận phản ánh)"
    assert agency(UNITS, "site", "S-79-0001", "en", "Trạm Y tế Phường Bến Nghé") == \
        "Vaccination site Trạm Y tế Phường Bến Nghé"
    assert agency(UNITS, "commune", "26734") == f"Trạm Y tế {UNITS.commune('26734').name}"


def test_accounts_are_for_units_that_exist_in_their_province():
    assert unit_province(UNITS, "district", "760") == "79"
    assert unit_province(UNITS, "commune", "26734") == "79"
    assert unit_province(UNITS, "province", "01") == "01"
    for level, code, why in (("district", "999", "no district"), ("commune", "99999", "no commune"),
                             ("province", "00", "no province"), ("site", "S-1", "level must be")):
        with pytest.raises(AccountError, match=why):
            unit_province(UNITS, level, code)


def test_under_the_map_in_force_accounts_are_for_provinces_and_communes_in_force():
    assert unit_province(IN_FORCE, "commune", "26737") == "79"
    assert unit_province(IN_FORCE, "province", "79") == "79"
    for level, code, why in (("district", "760", "districts were abolished"), ("province", "77", "no province"),
                             ("commune", "26563", "no commune")):  # 77 joined 79; 26563 is an old commune
        with pytest.raises(AccountError, match=why):
            unit_province(IN_FORCE, level, code)


def test_under_the_map_in_force_old_units_keep_their_names():
    """A complaint routed to district 760 before the cut-over still names its office."""
    assert agency(IN_FORCE, "district", "760") == "Trung tâm Y tế Quận 1"
    assert agency(IN_FORCE, "province", "79", "en") == "Department of Health, Thành phố Hồ Chí Minh"


def test_the_chart_stacks_each_day_and_names_every_bar():
    days = [{"day": dt.date(2026, 11, d), "in_time": d % 3, "late": 1, "overdue": 0, "open": 2} for d in range(1, 31)]
    svg = str(sla_chart(days, {"title": "t <x>", "in_time": "In time", "late": "Late", "overdue": "Overdue",
                               "open": "Open"}))
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "t &lt;x&gt;" in svg
    assert svg.count("<rect") == sum(1 for d in days for k in ("in_time", "late", "overdue", "open") if d[k]) + 4
    assert "<title>30/11 Open: 2</title>" in svg
    assert 'text-anchor="end">30/11' in svg
    assert str(sla_chart([], {"title": "", "in_time": "", "late": "", "overdue": "", "open": ""})).endswith("</svg>")


def test_the_public_answer_carries_the_offices_response_once_closed():
    closed = open311(status_row(resolved_at=dt.datetime(2026, 11, 25, 1, tzinfo=UTC), outcome="updated",
                                resolved_by_level="province", resolved_by_unit="79",
                                response="Đã bổ sung mũi 2 (Comirnaty, 01/10/2021) vào hồ sơ."),
                     UNITS, dt.datetime(2026, 11, 25, tzinfo=UTC))
    assert closed["status_notes"].endswith("Đã bổ sung mũi 2 (Comirnaty, 01/10/2021) vào hồ sơ.")
    still_open = open311(status_row(response="not yet"), UNITS, dt.datetime(2026, 11, 25, tzinfo=UTC))
    assert "not yet" not in still_open["status_notes"]  # only a counted result's response is shown
