"""The administrative units: the map in force, and every older code a complaint may carry.

Since 1 July 2025 (Resolution 202/2025/QH15; code list of Decision 19/2025/QĐ-TTg) Vietnam
has 34 provinces and two tiers, province and commune; districts are abolished. ADMIN_MAP
chooses the map the system routes to:

- "2025" (the default): the 34 provinces and 3,321 communes in force. Codes of every list
  since 2021 are still understood, through `History`: an old province's successor, an old
  commune's successor communes (several when it was split), the special zone an island
  district became.
- "2021": the seed's map as written: 63 provinces, their districts and communes (the lists
  of 2021 and January 2025 together, so that a code of either is known).

The tables are checked in under schemas/data/ (made by schemas/data/build.py from published
packages; SOURCES.md says which). This is the only module that reads them. Codes are
zero-padded strings, as in the contract: province 2 digits, district 3, commune 5.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

MAPS = ("2021", "2025")
DEFAULT_MAP = "2025"
DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    name: str
    parent: str | None  # 2021: a district's province, a commune's district; 2025: a commune's province
    kind: str = ""      # xã, phường, đặc khu (communes in force)


@dataclass(frozen=True, slots=True)
class OldCommune:
    """A commune of a list before 1 July 2025."""

    code: str
    name: str
    province_code: str                 # its (old) province; never ambiguous
    district_codes: tuple[str, ...]    # its district in each list (a few moved between 2021 and 2025)
    lists: tuple[str, ...]             # "2021", "2025-01", "2025-06"
    successors: tuple[str, ...]        # communes in force it became part of; () when the tables do not say

    @property
    def split(self) -> bool:
        return len(self.successors) > 1


@dataclass(frozen=True)
class History:
    """Every unit of the lists since 2021, with its successor in the map of 2025."""

    provinces: dict[str, Unit]            # old province -> (name, parent: its successor province)
    districts: dict[str, Unit]            # old district -> (name, parent: its old province)
    island_communes: dict[str, str]       # island district without communes -> its special zone
    communes: dict[str, OldCommune]
    # A commune in force -> the old districts of the communes it was formed from.
    districts_of_new: dict[str, frozenset[str]] = field(default_factory=dict)

    def province_successor(self, old_code: str) -> str | None:
        unit = self.provinces.get(old_code)
        return unit.parent if unit else None


@dataclass(frozen=True)
class AdminUnits:
    """The units of one map: those offices, topics, accounts and delegations are made of."""

    map: str
    provinces: dict[str, Unit]
    districts: dict[str, Unit]   # empty under 2025
    communes: dict[str, Unit]
    history: History
    # 2021: a commune's every district (its district moved in a few 2022-24 reorganisations).
    commune_districts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def levels(self) -> tuple[str, ...]:
        """The jurisdiction levels (and delegated units' levels, but the province)."""
        return ("province", "district", "commune") if self.map == "2021" else ("province", "commune")

    def province(self, code: str | None) -> Unit | None:
        return self.provinces.get(code) if code else None

    def district(self, code: str | None) -> Unit | None:
        return self.districts.get(code) if code else None

    def commune(self, code: str | None) -> Unit | None:
        return self.communes.get(code) if code else None

    def province_of_district(self, district_code: str) -> str | None:
        unit = self.districts.get(district_code)
        return unit.parent if unit else None

    def district_of_commune(self, commune_code: str) -> str | None:
        """2021: the commune's district (its latest); None under 2025."""
        unit = self.communes.get(commune_code) if self.map == "2021" else None
        return unit.parent if unit else None

    def province_of_commune(self, commune_code: str) -> str | None:
        unit = self.communes.get(commune_code)
        if unit is None:
            return None
        return unit.parent if self.map == "2025" else self.province_of_district(unit.parent or "")

    def in_district(self, commune_code: str, district_code: str) -> bool:
        """2021: the commune lies in that district in one of the lists."""
        return district_code in self.commune_districts.get(commune_code, ())

    def unit(self, level: str, code: str | None) -> Unit | None:
        table = {"province": self.provinces, "district": self.districts, "commune": self.communes}.get(level)
        return table.get(code) if table is not None and code else None

    def name(self, level: str | None, code: str | None) -> str | None:
        """A unit's name: of this map, else (under 2025) of an older list, for what was routed
        to it before the cut-over. None for other codes (sites, VN)."""
        unit = self.unit(level or "", code)
        if unit is None and self.map == "2025" and code:
            unit = {"province": self.history.provinces, "district": self.history.districts,
                    "commune": self.history.communes}.get(level or "", {}).get(code)
        return unit.name if unit is not None else None

    def province_of(self, level: str, code: str) -> str | None:
        """The province (of this map) a unit of this map lies in."""
        if level == "province":
            return code if code in self.provinces else None
        if level == "district":
            return self.province_of_district(code)
        if level == "commune":
            return self.province_of_commune(code)
        return None

    def province_in_force(self, code: str | None) -> str | None:
        """The province of this map that holds province `code` of any list: itself, or under
        2025 an old province's successor. None for a code no list has."""
        if not code:
            return None
        if code in self.provinces:
            return code
        return self.history.province_successor(code) if self.map == "2025" else None

    def province_codes(self) -> list[str]:
        return sorted(self.provinces)


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split()) if text else ()


@lru_cache(maxsize=1)
def history() -> History:
    provinces = {r["code"]: Unit(r["code"], r["name"], r["successor"]) for r in _rows("provinces-old.csv")}
    districts: dict[str, Unit] = {}
    islands: dict[str, str] = {}
    for r in _rows("districts-old.csv"):
        districts[r["code"]] = Unit(r["code"], r["name"], r["province_code"])
        if r["successor_commune"]:
            islands[r["code"]] = r["successor_commune"]
    communes = {r["code"]: OldCommune(r["code"], r["name"], r["province_code"], _split(r["district_codes"]),
                                      _split(r["lists"]), _split(r["successors"]))
                for r in _rows("communes-old.csv")}
    of_new: dict[str, set[str]] = {}
    for old in communes.values():
        for new in old.successors:
            of_new.setdefault(new, set()).update(old.district_codes)
    for district, new in islands.items():
        of_new.setdefault(new, set()).add(district)
    return History(provinces, districts, islands, communes, {k: frozenset(v) for k, v in of_new.items()})


@lru_cache(maxsize=2)
def load(admin_map: str | None = None) -> AdminUnits:
    """The units of `admin_map` (default: ADMIN_MAP, else 2025)."""
    admin_map = admin_map or configured_map()
    old = history()
    if admin_map == "2025":
        provinces = {r["code"]: Unit(r["code"], r["name"], None) for r in _rows("provinces-2025.csv")}
        communes = {r["code"]: Unit(r["code"], r["name"], r["province_code"], r["kind"])
                    for r in _rows("communes-2025.csv")}
        return AdminUnits("2025", provinces, {}, communes, old)
    if admin_map != "2021":
        raise ValueError(f"ADMIN_MAP must be one of {', '.join(MAPS)}, got {admin_map!r}")
    provinces = {code: Unit(code, unit.name, None) for code, unit in old.provinces.items()}
    communes = {code: Unit(code, c.name, c.district_codes[-1]) for code, c in old.communes.items()}
    return AdminUnits("2021", provinces, dict(old.districts), communes, old,
                      {code: c.district_codes for code, c in old.communes.items()})


def configured_map() -> str:
    """ADMIN_MAP from the environment (schemas/settings.py reads the same variable)."""
    value = os.environ.get("ADMIN_MAP") or DEFAULT_MAP
    if value not in MAPS:
        raise ValueError(f"ADMIN_MAP must be one of {', '.join(MAPS)}, got {value!r}")
    return value


def province_codes(admin_map: str | None = None) -> list[str]:
    """The provinces of the map: one jurisdiction topic and one office principal each."""
    return load(admin_map).province_codes()
