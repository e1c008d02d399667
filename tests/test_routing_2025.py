"""Routing under the map in force (ADMIN_MAP=2025), codes of every list since 2021 understood:
the contract's "Administrative units: the map in force", table-tested."""

import datetime as dt

import pytest

from processors.domain.routing import route, successor_decision
from schemas.admin_units import history, load
from schemas.models import ComplaintSubmitted, Delegation, Routing
from schemas.topics import Topics
from tests.fixtures import FULL_DOSE, complaint, routing_cases

UNITS = load("2025")
OLD = history()
TOPICS = Topics(admin_map="2025")
NATIONAL = {"level": "national", "unit_code": "VN"}


def province(code: str) -> dict:
    return {"level": "province", "unit_code": code}


def grant(commune: str, province_code: str) -> Delegation:
    return Delegation(unit_code=commune, level="commune", province_code=province_code, commune_code=commune,
                      granted_at="2025-07-02T08:00:00+07:00", granted_by=province_code)


def decide(c: dict, delegations: dict | None = None):
    return route(ComplaintSubmitted.model_validate(c), delegations or {}, UNITS)


def summary(d) -> tuple:
    return (d.route, d.province_code, d.level, d.handler.model_dump(), list(d.warnings),
            d.place.commune_code, list(d.place.candidates))


# The public fixtures were written for the 2021 map: under 2025 the district level is gone.
EXPECTED_2025 = {
    "site-and-doses": ("site_system", "01", None, {"level": "site", "unit_code": "S-01-0001"}, [], "00097", []),
    "province-only": ("jurisdiction", "79", "province", province("79"), [], None, []),
    "province-district": ("jurisdiction", "31", "province", province("31"), ["district_abolished"], None, []),
    "province-district-commune": ("jurisdiction", "48", "commune", province("48"), [], "20194", []),
    "site-without-doses": ("jurisdiction", "01", "commune", province("01"), [], "00097", []),
    "nothing": ("triage", None, None, NATIONAL, [], None, []),
    "district-not-in-province": ("jurisdiction", "01", "province", province("01"), ["district_not_in_province"],
                                 None, []),
}


@pytest.mark.parametrize("case", routing_cases(), ids=lambda c: c["name"])
def test_public_fixtures_under_the_map_in_force(case):
    d = decide(case["complaint"])
    assert summary(d) == EXPECTED_2025[case["name"]]
    assert d.topic(TOPICS) == (case["expect"]["topic"] if d.route != "jurisdiction"
                               else f"complaints.jurisdiction.{d.province_code}")


@pytest.mark.parametrize("old", sorted(OLD.provinces))
def test_every_old_province_routes_to_its_successor(old):
    d = decide(complaint(province=old))
    successor = OLD.provinces[old].parent
    assert summary(d) == ("jurisdiction", successor, "province", province(successor), [], None, [])
    assert d.topic(TOPICS) == f"complaints.jurisdiction.{successor}" and successor in UNITS.provinces


def test_merged_province_77_goes_to_79():
    d = decide(complaint(province="77"))
    block = Routing.model_validate(d.routing_json(ComplaintSubmitted.model_validate(complaint(province="77")),
                                                  dt.datetime(2025, 8, 1, tzinfo=dt.timezone.utc)))
    assert d.topic(TOPICS) == "complaints.jurisdiction.79"
    assert block.admin_map == "2025" and block.location_in_force.model_dump() == {
        "province_code": "79", "commune_code": None, "district_code": None}


SPLIT = "00016"        # Phường Ngọc Hà (old, Ba Đình): split between 00004 and 00008
WHOLE = "00001"        # Phường Phúc Xá (old): wholly in Phường Hồng Hà (00097)
ONLY_2021 = next(c.code for c in OLD.communes.values() if c.lists == ("2021",))
ISLAND_DISTRICT = "755"  # Côn Đảo, a district without communes: now a special zone of 79

CASES = [
    # name, complaint, delegations, (route, province, level, handler, warnings, commune in force, candidates)
    ("new commune code", complaint(commune="00004"), {},
     ("jurisdiction", "01", "commune", province("01"), [], "00004", [])),
    ("new commune with its new province", complaint(province="01", commune="00004"), {},
     ("jurisdiction", "01", "commune", province("01"), [], "00004", [])),
    ("new commune delegated", complaint(province="01", commune="00004"), {"00004": grant("00004", "01")},
     ("jurisdiction", "01", "commune", {"level": "commune", "unit_code": "00004"}, [], "00004", [])),
    ("old commune not split: its successor, commune level", complaint(province="01", district="001", commune=WHOLE),
     {}, ("jurisdiction", "01", "commune", province("01"), [], "00097", [])),
    ("old commune alone implies its province", complaint(commune=WHOLE), {},
     ("jurisdiction", "01", "commune", province("01"), [], "00097", [])),
    ("old commune, its successor delegated", complaint(commune=WHOLE), {"00097": grant("00097", "01")},
     ("jurisdiction", "01", "commune", {"level": "commune", "unit_code": "00097"}, [], "00097", [])),
    ("old commune split: province level, the candidates listed",
     complaint(province="01", district="001", commune=SPLIT), {"00004": grant("00004", "01")},
     ("jurisdiction", "01", "province", province("01"), ["commune_split"], None, ["00004", "00008"])),
    ("old commune of a merged province", complaint(province="77", commune="26563"), {},
     ("jurisdiction", "79", "commune", province("79"),
      [], OLD.communes["26563"].successors[0], [])),
    ("district and no commune: province level", complaint(province="79", district="760"), {},
     ("jurisdiction", "79", "province", province("79"), ["district_abolished"], None, [])),
    ("district alone implies its province in force", complaint(district="748"), {},
     ("jurisdiction", "79", "province", province("79"), ["district_abolished"], None, [])),
    ("island district without communes: its special zone", complaint(province="77", district=ISLAND_DISTRICT), {},
     ("jurisdiction", "79", "commune", province("79"), [], "26732", [])),
    ("commune of 2021 merged away before 2025: its province, the successor unknown",
     complaint(commune=ONLY_2021), {},
     ("jurisdiction", OLD.provinces[OLD.communes[ONLY_2021].province_code].parent, "province",
      province(OLD.provinces[OLD.communes[ONLY_2021].province_code].parent), ["commune_successor_unknown"], None, [])),
    ("commune merged in early 2025 (not in the conversion table)", complaint(province="79", commune="26935"), {},
     ("jurisdiction", "79", "province", province("79"), ["commune_successor_unknown"], None, [])),
    ("the published table's wrong province for 27691: the lists' 80", complaint(commune="27691"), {},
     ("jurisdiction", "80", "commune", province("80"), [], "27694", [])),
    ("old province 82 is 82, not 80", complaint(province="82"), {},
     ("jurisdiction", "82", "province", province("82"), [], None, [])),
    ("old province 80 is 80 (Long An joined Tây Ninh)", complaint(province="72"), {},
     ("jurisdiction", "80", "province", province("80"), [], None, [])),
    ("commune of another province", complaint(province="01", commune="26563"), {},
     ("jurisdiction", "01", "province", province("01"), ["commune_not_in_province"], None, [])),
    ("old district of another province", complaint(province="01", district="760"), {},
     ("jurisdiction", "01", "province", province("01"), ["district_not_in_province"], None, [])),
    ("commune not in the district given", complaint(province="01", district="002", commune=WHOLE), {},
     ("jurisdiction", "01", "province", province("01"), ["commune_not_in_district", "district_abolished"], None, [])),
    ("the district decides what a reused code meant: old 00004 of Ba Đình",
     complaint(province="01", district="001", commune="00004"), {},
     ("jurisdiction", "01", "commune", province("01"), [], OLD.communes["00004"].successors[0], [])),
    ("unknown commune", complaint(province="79", commune="99999"), {},
     ("jurisdiction", "79", "province", province("79"), ["unknown_commune"], None, [])),
    ("unknown district", complaint(province="79", district="999"), {},
     ("jurisdiction", "79", "province", province("79"), ["unknown_district"], None, [])),
    ("unknown province drops what is below it, each named", complaint(province="99", district="760", commune=WHOLE),
     {}, ("triage", None, None, NATIONAL,
          ["unknown_province", "district_dropped_with_province", "commune_dropped_with_province"], None, [])),
    ("unknown province with unknown codes below", complaint(province="99", district="999"), {},
     ("triage", None, None, NATIONAL, ["unknown_province", "unknown_district"], None, [])),
    ("site's old codes route the site to its province in force",
     complaint(site={"site_code": "S-77-1", "province_code": "77", "district_code": "748"}, doses=[FULL_DOSE]), {},
     ("site_system", "79", None, {"level": "site", "unit_code": "S-77-1"}, ["site_district_abolished"], None, [])),
    ("a 2021 delegation lapses: it is not in the registry of 2025", complaint(province="48", district="490"), {},
     ("jurisdiction", "48", "province", province("48"), ["district_abolished"], None, [])),
]


@pytest.mark.parametrize("name, c, delegations, expected", CASES, ids=[c[0] for c in CASES])
def test_rules_under_the_map_in_force(name, c, delegations, expected):
    assert summary(decide(c, delegations)) == expected


def test_the_2021_map_still_routes_to_districts():
    d = route(ComplaintSubmitted.model_validate(complaint(province="77", district="748")), {}, load("2021"))
    assert (d.route, d.province_code, d.level) == ("jurisdiction", "77", "district")
    assert d.map_fields()["admin_map"] == "2021"


SUCCESSOR_OF_26563 = OLD.communes["26563"].successors[0]


@pytest.mark.parametrize("old_handler, delegated, expected", [
    (province("77"), False, province("79")),
    ({"level": "district", "unit_code": "748"}, False, province("79")),
    ({"level": "commune", "unit_code": "26563"}, False, province("79")),
    ({"level": "commune", "unit_code": "26563"}, True, {"level": "commune", "unit_code": SUCCESSOR_OF_26563}),
])
def test_the_cut_over_names_the_unit_in_force_that_succeeds_the_handler(old_handler, delegated, expected):
    c = ComplaintSubmitted.model_validate(complaint(province="77", district="748", commune="26563"))
    delegations = {SUCCESSOR_OF_26563: grant(SUCCESSOR_OF_26563, "79")} if delegated else {}
    d = successor_decision(c, "77", old_handler, delegations, UNITS)
    assert d.handler.model_dump() == expected
    assert (d.route, d.province_code, d.level, d.place.commune_code) == ("jurisdiction", "79", "commune",
                                                                        SUCCESSOR_OF_26563)
