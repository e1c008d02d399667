"""Routing rules 1-4, table-tested: the public fixtures, then cases of our own."""

import pytest

from processors.domain.routing import route
from schemas.admin_units import load
from schemas.models import ComplaintSubmitted, Delegation, Routing
from schemas.topics import Topics
from tests.fixtures import FULL_DOSE, complaint, routing_cases

UNITS = load("2021")  # the seed's map: these cases are its rules as written
TOPICS = Topics(admin_map="2021")
SITE = {"site_code": "S-48-0001", "name": "Trạm Y tế phường Hòa Hiệp Bắc",
        "province_code": "48", "district_code": "490", "commune_code": "20194"}


def grant(unit_code: str, province: str, district: str, commune: str | None = None) -> Delegation:
    return Delegation(unit_code=unit_code, level="commune" if commune else "district", province_code=province,
                      district_code=district, commune_code=commune,
                      granted_at="2021-11-01T08:00:00+07:00", granted_by=province)


def decide(c: dict, delegations: dict | None = None):
    return route(ComplaintSubmitted.model_validate(c), delegations or {}, UNITS)


@pytest.mark.parametrize("case", routing_cases(), ids=lambda c: c["name"])
def test_public_fixtures(case):
    d = decide(case["complaint"])
    expect = case["expect"]
    assert d.route == expect["route"]
    assert d.topic(TOPICS) == expect["topic"]
    assert d.province_code == expect["province_code"]
    assert d.level == expect["level"]
    assert d.handler.model_dump() == expect["handler"]
    assert bool(d.warnings) == expect["warnings"]


H_PROV = lambda p: {"level": "province", "unit_code": p}  # noqa: E731
CASES = [
    # name, complaint, delegations, (route, province, level, handler, warnings)
    ("site and full dose", complaint(site=SITE, doses=[FULL_DOSE]), {},
     ("site_system", "48", None, {"level": "site", "unit_code": "S-48-0001"}, [])),
    ("site_system takes location's province over site's",
     complaint(province="79", site=SITE, doses=[FULL_DOSE]), {},
     ("site_system", "79", None, {"level": "site", "unit_code": "S-48-0001"}, [])),
    ("site with no codes and full dose", complaint(site={"site_code": "S-X", "name": "X"}, doses=[FULL_DOSE]), {},
     ("site_system", None, None, {"level": "site", "unit_code": "S-X"}, [])),
    ("one complete dose among incomplete ones",
     complaint(site=SITE, doses=[{"dose_number": 1}, {"vaccine": "Pfizer"}, FULL_DOSE]), {},
     ("site_system", "48", None, {"level": "site", "unit_code": "S-48-0001"}, [])),
    ("site, dose without vaccine", complaint(site=SITE, doses=[{"dose_number": 1, "vaccinated_on": "2021-08-01"}]), {},
     ("jurisdiction", "48", "commune", H_PROV("48"), [])),
    ("site, dose without date", complaint(site=SITE, doses=[{"dose_number": 1, "vaccine": "Pfizer"}]), {},
     ("jurisdiction", "48", "commune", H_PROV("48"), [])),
    ("site, dose with blank vaccine",
     complaint(site=SITE, doses=[{"dose_number": 1, "vaccine": " ", "vaccinated_on": "2021-08-01"}]), {},
     ("jurisdiction", "48", "commune", H_PROV("48"), [])),
    ("site without site_code but doses", complaint(site={**SITE, "site_code": None}, doses=[FULL_DOSE]), {},
     ("jurisdiction", "48", "commune", H_PROV("48"), [])),
    ("site without doses, location wins", complaint(province="79", district="760", site=SITE), {},
     ("jurisdiction", "79", "district", H_PROV("79"), [])),
    ("doses but no site", complaint(province="79", doses=[FULL_DOSE]), {},
     ("jurisdiction", "79", "province", H_PROV("79"), [])),
    ("commune without its district implies it", complaint(province="48", commune="20194"), {},
     ("jurisdiction", "48", "commune", H_PROV("48"), [])),
    ("commune alone, district delegated", complaint(province="48", commune="20194"), {"490": grant("490", "48", "490")},
     ("jurisdiction", "48", "commune", {"level": "district", "unit_code": "490"}, [])),
    ("district delegated", complaint(province="48", district="490"), {"490": grant("490", "48", "490")},
     ("jurisdiction", "48", "district", {"level": "district", "unit_code": "490"}, [])),
    ("commune delegated beats district",
     complaint(province="48", district="490", commune="20194"),
     {"490": grant("490", "48", "490"), "20194": grant("20194", "48", "490", "20194")},
     ("jurisdiction", "48", "commune", {"level": "commune", "unit_code": "20194"}, [])),
    ("other commune delegated: district handles",
     complaint(province="48", district="490", commune="20194"),
     {"490": grant("490", "48", "490"), "20206": grant("20206", "48", "491", "20206")},
     ("jurisdiction", "48", "commune", {"level": "district", "unit_code": "490"}, [])),
    ("commune delegated but complaint at district level", complaint(province="48", district="490"),
     {"20194": grant("20194", "48", "490", "20194")},
     ("jurisdiction", "48", "district", H_PROV("48"), [])),
    ("district grant under another province is ignored", complaint(province="48", district="490"),
     {"490": grant("490", "79", "490")},
     ("jurisdiction", "48", "district", H_PROV("48"), [])),
    ("unknown district falls back to province", complaint(province="48", district="999"), {},
     ("jurisdiction", "48", "province", H_PROV("48"), ["unknown_district"])),
    ("district not in province", complaint(province="01", district="303"), {},
     ("jurisdiction", "01", "province", H_PROV("01"), ["district_not_in_province"])),
    ("district not in province drops its commune too", complaint(province="01", district="490", commune="20194"), {},
     ("jurisdiction", "01", "province", H_PROV("01"), ["district_not_in_province", "commune_not_in_province"])),
    ("commune not in district falls back to district", complaint(province="48", district="490", commune="20206"), {},
     ("jurisdiction", "48", "district", H_PROV("48"), ["commune_not_in_district"])),
    ("unknown commune falls back to district", complaint(province="48", district="490", commune="99999"), {},
     ("jurisdiction", "48", "district", H_PROV("48"), ["unknown_commune"])),
    ("commune alone in another province", complaint(province="01", commune="20194"), {},
     ("jurisdiction", "01", "province", H_PROV("01"), ["commune_not_in_province"])),
    ("unknown commune alone", complaint(province="01", commune="99999"), {},
     ("jurisdiction", "01", "province", H_PROV("01"), ["unknown_commune"])),
    ("unknown province, no site: triage", complaint(province="99"), {},
     ("triage", None, None, {"level": "national", "unit_code": "VN"}, ["unknown_province"])),
    ("unknown province drops district", complaint(province="99", district="490"), {},
     ("triage", None, None, {"level": "national", "unit_code": "VN"}, ["unknown_province", "district_dropped_with_province"])),
    ("unknown province, site's codes used", complaint(province="99", site={**SITE}), {},
     ("jurisdiction", "48", "commune", H_PROV("48"), ["unknown_province"])),
    ("unknown province, site and dose: site_system keeps site's province",
     complaint(province="99", site=SITE, doses=[FULL_DOSE]), {},
     ("site_system", "48", None, {"level": "site", "unit_code": "S-48-0001"}, ["unknown_province"])),
    ("site's district of another province: the site's commune still places it",
     complaint(site={**SITE, "district_code": "303"}), {},
     ("jurisdiction", "48", "commune", H_PROV("48"), ["site_district_not_in_province"])),
    ("site with unknown province and no location", complaint(site={**SITE, "province_code": "00"}), {},
     ("triage", None, None, {"level": "national", "unit_code": "VN"},
      ["site_unknown_province", "site_district_dropped_with_province", "site_commune_dropped_with_province"])),
    ("district without province implies its province", complaint(district="490"), {},
     ("jurisdiction", "48", "district", H_PROV("48"), [])),
    ("district alone, delegated", complaint(district="490"), {"490": grant("490", "48", "490")},
     ("jurisdiction", "48", "district", {"level": "district", "unit_code": "490"}, [])),
    ("commune alone implies district and province, location before site",
     complaint(commune="20194", site={"site_code": "S", "province_code": "79"}), {},
     ("jurisdiction", "48", "commune", H_PROV("48"), [])),
    ("commune alone, its commune delegated", complaint(commune="20194"),
     {"20194": grant("20194", "48", "490", "20194")},
     ("jurisdiction", "48", "commune", {"level": "commune", "unit_code": "20194"}, [])),
    ("unknown district between province and commune: commune level, the district named",
     complaint(province="48", district="999", commune="20194"), {},
     ("jurisdiction", "48", "commune", H_PROV("48"), ["unknown_district"])),
    ("district of another province between province and commune",
     complaint(province="48", district="303", commune="20194"), {},
     ("jurisdiction", "48", "commune", H_PROV("48"), ["district_not_in_province"])),
    ("district alone implies province, commune of another district dropped",
     complaint(district="490", commune="20206"), {},
     ("jurisdiction", "48", "district", H_PROV("48"), ["commune_not_in_district"])),
    ("unknown district alone: triage, the district named", complaint(district="999"), {},
     ("triage", None, None, {"level": "national", "unit_code": "VN"}, ["unknown_district"])),
    ("unknown district and commune alone", complaint(district="999", commune="99999"), {},
     ("triage", None, None, {"level": "national", "unit_code": "VN"}, ["unknown_district", "unknown_commune"])),
    ("unknown district alone, the site's province used", complaint(district="999", site={"province_code": "79"}), {},
     ("jurisdiction", "79", "province", H_PROV("79"), ["unknown_district"])),
    ("location missing", {k: v for k, v in complaint().items() if k != "location"}, {},
     ("triage", None, None, {"level": "national", "unit_code": "VN"}, [])),
    ("location null", complaint(location=None), {},
     ("triage", None, None, {"level": "national", "unit_code": "VN"}, [])),
    ("location empty object", complaint(location={}), {},
     ("triage", None, None, {"level": "national", "unit_code": "VN"}, [])),
    ("location empty, site object empty", complaint(location={}, site={}), {},
     ("triage", None, None, {"level": "national", "unit_code": "VN"}, [])),
    ("location empty, site with province", complaint(location={}, site={"province_code": "79", "name": "x"}), {},
     ("jurisdiction", "79", "province", H_PROV("79"), [])),
]


@pytest.mark.parametrize("name, c, delegations, expected", CASES, ids=[c[0] for c in CASES])
def test_rules(name, c, delegations, expected):
    d = decide(c, delegations)
    assert (d.route, d.province_code, d.level, d.handler.model_dump(), list(d.warnings)) == expected


def test_topics_follow_the_decision():
    assert decide(complaint(province="48")).topic(TOPICS) == "complaints.jurisdiction.48"
    assert decide(complaint()).topic(Topics("x.", "2021")) == "x.complaints.triage"
    assert decide(complaint(site=SITE, doses=[FULL_DOSE])).topic(TOPICS) == "complaints.site-system"


def test_routing_block_carries_deadline_on_event_time():
    import datetime as dt

    c = ComplaintSubmitted.model_validate(complaint(province="48", recorded_at="2021-11-08T23:30:00+07:00"))
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    block = Routing.model_validate(route(c, {}, UNITS).routing_json(c, now))  # the model accepts it
    assert block.deadline.isoformat() == "2021-11-10T23:30:00+07:00"
    assert block.routed_at == now and block.warnings == []
