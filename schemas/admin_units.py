"""The administrative-unit data set: GSO codes of provinces, districts and communes.

Source: the `vietnam-provinces` package, version 0.6.0, the last release with the
three-level structure in force when the Ministry's guidance was written (63 provinces,
696 districts, 10,051 communes). Codes are zero-padded strings, as in the contract:
province 2 digits, district 3, commune 5. This is the only module that reads the data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import vietnam_provinces


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    name: str
    parent: str | None  # district's province, commune's district; None for a province


@dataclass(frozen=True)
class AdminUnits:
    provinces: dict[str, Unit]
    districts: dict[str, Unit]
    communes: dict[str, Unit]

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
        unit = self.communes.get(commune_code)
        return unit.parent if unit else None


@lru_cache(maxsize=1)
def load() -> AdminUnits:
    with open(vietnam_provinces.NESTED_DIVISIONS_JSON_PATH, encoding="utf-8") as f:
        nested = json.load(f)
    provinces: dict[str, Unit] = {}
    districts: dict[str, Unit] = {}
    communes: dict[str, Unit] = {}
    for p in nested:
        pcode = f"{p['code']:02d}"
        provinces[pcode] = Unit(pcode, p["name"], None)
        for d in p["districts"]:
            dcode = f"{d['code']:03d}"
            districts[dcode] = Unit(dcode, d["name"], pcode)
            for w in d["wards"]:
                wcode = f"{w['code']:05d}"
                communes[wcode] = Unit(wcode, w["name"], dcode)
    return AdminUnits(provinces, districts, communes)


def province_codes() -> list[str]:
    return sorted(load().provinces)
