"""The administrative-unit tables (schemas/data/) against the official counts and facts."""

from collections import Counter

import pytest

from schemas.admin_units import history, load, province_codes
from schemas.topics import Topics

NEW = load("2025")
OLD = load("2021")
HISTORY = history()


def test_the_map_in_force_has_the_official_counts():
    """Decision 19/2025/QĐ-TTg: 34 provinces, 3,321 communes (2,621 xã, 687 phường, 13 đặc khu)."""
    assert len(NEW.provinces) == 34
    assert len(NEW.communes) == 3321
    assert Counter(c.kind for c in NEW.communes.values()) == {"xã": 2621, "phường": 687, "đặc khu": 13}
    assert NEW.districts == {} and NEW.levels == ("province", "commune")
    assert {c.parent for c in NEW.communes.values()} == set(NEW.provinces)


def test_every_list_since_2021_is_known():
    by_list = Counter(lst for c in HISTORY.communes.values() for lst in c.lists)
    assert by_list["2021"] == 10603 and by_list["2025-01"] == 10051  # the lists of 2021 and January 2025
    assert len(HISTORY.districts) == 707  # the 705 of 2021, and 2 made since
    assert len(HISTORY.provinces) == 63
    assert (len(OLD.provinces), len(OLD.districts), len(OLD.communes)) == (63, 707, len(HISTORY.communes))


RESOLUTION_202 = {  # new province <- old provinces (Resolution 202/2025/QH15)
    "08": {"02", "08"}, "15": {"10", "15"}, "19": {"06", "19"}, "24": {"24", "27"}, "25": {"17", "25", "26"},
    "31": {"30", "31"}, "33": {"33", "34"}, "37": {"35", "36", "37"}, "44": {"44", "45"}, "48": {"48", "49"},
    "51": {"51", "62"}, "52": {"52", "64"}, "56": {"56", "58"}, "66": {"54", "66"}, "68": {"60", "67", "68"},
    "75": {"70", "75"}, "79": {"74", "77", "79"}, "80": {"72", "80"}, "82": {"82", "87"},
    "86": {"83", "84", "86"}, "91": {"89", "91"}, "92": {"92", "93", "94"}, "96": {"95", "96"},
    **{code: {code} for code in ("01", "04", "11", "12", "14", "20", "22", "38", "40", "42", "46")},
}


def test_every_old_province_lies_in_exactly_one_new_one():
    formed = {new: {old for old, unit in HISTORY.provinces.items() if unit.parent == new} for new in NEW.provinces}
    assert formed == RESOLUTION_202
    assert all(new in olds for new, olds in formed.items())  # a new code is one of its old ones'


def test_the_published_tables_defects_are_mended():
    # vietnam-provinces gives old province 82 both 80 and 82: Tiền Giang joined Đồng Tháp (82).
    assert HISTORY.province_successor("82") == "82" and HISTORY.province_successor("80") == "80"
    # Its conversion table puts commune 27691 in province 82 and 30781 in 89; the lists say 80 and 91.
    assert HISTORY.communes["27691"].province_code == "80"
    assert HISTORY.communes["30781"].province_code == "91"
    # Island districts without communes became special zones.
    assert {d: NEW.communes[c].name for d, c in HISTORY.island_communes.items()} == {
        "318": "Đặc khu Bạch Long Vĩ", "471": "Đặc khu Cồn Cỏ", "498": "Đặc khu Hoàng Sa",
        "536": "Đặc khu Lý Sơn", "755": "Đặc khu Côn Đảo"}


def test_successor_communes_lie_in_the_successor_province():
    for old in HISTORY.communes.values():
        for new in old.successors:
            assert NEW.communes[new].parent == HISTORY.province_successor(old.province_code), old.code


def test_new_codes_are_codes_of_what_they_were_formed_from():
    formed_from: dict[str, set[str]] = {}
    for old in HISTORY.communes.values():
        for new in old.successors:
            formed_from.setdefault(new, set()).add(old.code)
    assert len(formed_from) == 3316 and all(new in olds for new, olds in formed_from.items())
    assert set(NEW.communes) - set(formed_from) == set(HISTORY.island_communes.values())


def test_splits_and_codes_without_a_successor():
    split = [c for c in HISTORY.communes.values() if c.split]
    assert len(split) == 441 and max(len(c.successors) for c in split) <= 5
    unknown = [c for c in HISTORY.communes.values() if not c.successors]
    # merged away in 2022-24 (2021 list only) or early 2025 (not in the June conversion table)
    assert len(unknown) == 586 and all("2025-06" not in c.lists for c in unknown)


@pytest.mark.parametrize("admin_map, count", [("2025", 34), ("2021", 63)])
def test_one_jurisdiction_topic_per_province_of_the_map(admin_map, count):
    names = Topics(admin_map=admin_map).all_jurisdictions()
    assert len(names) == count == len(province_codes(admin_map)) and names[0] == "complaints.jurisdiction.01"
    assert Topics("t1.").jurisdiction("79") == "t1.complaints.jurisdiction.79"


def test_the_2021_map_links_codes_to_their_parents():
    assert OLD.province("01").name == "Thành phố Hà Nội"
    assert OLD.district("001").parent == "01"
    assert OLD.commune("00001").parent == "001"
    assert OLD.province_of_district("490") == "48"
    assert OLD.district_of_commune("20194") == "490"
    assert OLD.province_of_commune("20194") == "48"
    moved = next(c for c in HISTORY.communes.values() if len(c.district_codes) > 1)
    assert all(OLD.in_district(moved.code, d) for d in moved.district_codes)


def test_province_in_force():
    assert NEW.province_in_force("77") == "79" and NEW.province_in_force("79") == "79"
    assert NEW.province_in_force("99") is None and NEW.province_in_force(None) is None
    assert OLD.province_in_force("77") == "77"
