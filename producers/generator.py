"""Realistic complaint events for demos, tests and benchmarks.

The mix follows the seed: complaints with full site and dose details, with province only,
province + district, province + district + commune, and with nothing usable. Names are
Vietnamese, national IDs are well-formed CCCD/CMND numbers, codes are real GSO codes.
Addresses are of the map in force (under 2025: province and commune, no district; the
district share of the seed's mix gives province-only addresses), or, on request
(`old_address_share`), of the 2021 lists, as a record of a 2021 vaccination carries them.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from schemas.admin_units import AdminUnits, load
from schemas.times import ICT


SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ",
            "Ngô", "Dương", "Lý"]
SURNAME_WEIGHTS = [38, 11, 9.5, 7, 5, 5, 4.5, 3.9, 3.9, 2.1, 2, 1.4, 1.3, 1.3, 1, 0.5]
MIDDLE_MALE = ["Văn", "Hữu", "Đức", "Minh", "Quốc", "Thanh", "Công", "Xuân"]
MIDDLE_FEMALE = ["Thị", "Ngọc", "Thu", "Thanh", "Minh", "Mai", "Kim", "Phương"]
GIVEN_MALE = ["An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Khoa", "Long", "Nam", "Phúc", "Quân", "Sơn", "Tài",
              "Thắng", "Tuấn", "Việt"]
GIVEN_FEMALE = ["Anh", "Châu", "Dung", "Giang", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh", "Mai", "Nga",
                "Ngọc", "Phương", "Thảo", "Trang", "Yến"]
MOBILE_PREFIXES = ["032", "033", "034", "035", "036", "037", "038", "039", "070", "076", "077", "078", "079",
                   "081", "082", "083", "084", "085", "086", "088", "089", "090", "091", "093", "094", "096",
                   "097", "098"]
RESPONSES = {
    "updated": "Thông tin tiêm chủng của Ông/Bà đã được rà soát và cập nhật.",
    "rejected": "Sau khi rà soát, thông tin trên hệ thống đã chính xác; không có thay đổi.",
    "duplicate": "Phản ánh này trùng với một phản ánh trước đó của Ông/Bà, đang được xử lý.",
    "referred": "Phản ánh đã được chuyển đến đơn vị có thẩm quyền để xử lý tiếp.",
}
VACCINES = ["AstraZeneca", "Pfizer", "Moderna", "Vero Cell (Sinopharm)", "Sputnik V", "Abdala", "Hayat-Vax"]
DESCRIPTIONS = {
    "missing_record": ["Đã tiêm mũi {n} nhưng chưa có trên Sổ sức khỏe điện tử",
                       "Không tìm thấy thông tin tiêm chủng trên Cổng thông tin"],
    "incorrect_record": ["Sai ngày tiêm mũi {n}", "Sai tên loại vaccine mũi {n}", "Sai ngày sinh trên chứng nhận"],
    "missing_dose": ["Thiếu thông tin mũi {n}", "Chỉ hiển thị mũi 1, thiếu mũi {n}"],
    "certificate": ["Chưa được cấp chứng nhận tiêm chủng", "Mã QR chứng nhận không hiển thị"],
    "other": ["Cần hỗ trợ cập nhật số điện thoại", "Thông tin cá nhân bị trùng với người khác"],
}
CATEGORY_WEIGHTS = {"missing_record": 40, "incorrect_record": 25, "missing_dose": 20, "certificate": 10, "other": 5}

# The seed's cases, in shares of all complaints.
PRECISION_MIX = {"site_and_doses": 0.35, "province": 0.15, "district": 0.15, "commune": 0.25, "nothing": 0.10}
# Populous provinces send more complaints: Hà Nội, TP HCM, Hải Phòng, Đà Nẵng, Cần Thơ, Đồng Nai, Bình Dương.
HEAVY_PROVINCES = {"01": 10, "79": 12, "31": 3, "48": 3, "92": 2, "75": 4, "74": 4}


@dataclass
class GeneratorConfig:
    seed: int | None = None
    spread_hours: float = 24.0          # recorded_at spread over this many hours before now
    retry_share: float = 0.03           # resubmissions of an earlier complaint, same event
    malformed_share: float = 0.01       # payloads that cannot be read as a complaint
    early_resolution_share: float = 0.02  # resolutions sent before their complaint
    inconsistent_share: float = 0.02    # a district or commune code that is wrong (rule 4 fallbacks)
    old_address_share: float = 0.0      # under the 2025 map: addresses of the 2021 lists instead
    id_prefix: str = "C"


class ComplaintFactory:
    def __init__(self, config: GeneratorConfig | None = None, units: AdminUnits | None = None) -> None:
        self.config = config or GeneratorConfig()
        self.rng = random.Random(self.config.seed)
        self.units = units or load()
        self.old_units = self.units if self.units.map == "2021" else load("2021")
        self._provinces = sorted(self.old_units.provinces)
        self._province_weights = [HEAVY_PROVINCES.get(p, 1) for p in self._provinces]
        self._districts_by_province: dict[str, list[str]] = {}
        for code, unit in self.old_units.districts.items():
            self._districts_by_province.setdefault(unit.parent or "", []).append(code)
        self._communes_by_district: dict[str, list[str]] = {}
        for code, unit in self.old_units.communes.items():
            if "2021" in self.units.history.communes[code].lists:  # the list the vaccination records carry
                self._communes_by_district.setdefault(unit.parent or "", []).append(code)
        self._communes_by_province: dict[str, list[str]] = {}  # the map in force's (2025)
        if self.units.map == "2025":
            for code, unit in self.units.communes.items():
                self._communes_by_province.setdefault(unit.parent or "", []).append(code)
        self._serial = 0
        self._run = f"{self.rng.getrandbits(32):08x}"

    # -- people ----------------------------------------------------------------------------
    def citizen(self, province_code: str) -> dict[str, Any]:
        rng = self.rng
        female = rng.random() < 0.5
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 66))
        surname = rng.choices(SURNAMES, SURNAME_WEIGHTS)[0]
        middle = rng.choice(MIDDLE_FEMALE if female else MIDDLE_MALE)
        given = rng.choice(GIVEN_FEMALE if female else GIVEN_MALE)
        return {
            "full_name": f"{surname} {middle} {given}",
            "national_id": self.national_id(province_code, birth, female),
            "phone": rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**7):07d}",
            "birth_date": birth.isoformat(),
        }

    def national_id(self, province_code: str, birth: dt.date, female: bool) -> str:
        """CCCD: 0 + province (3 digits), century/gender digit, 2-digit year, 6 digits.
        One in five is an old 9-digit CMND."""
        if self.rng.random() < 0.2:
            return f"{self.rng.randrange(10**8, 10**9):09d}"
        century = 0 if birth.year < 2000 else 2
        return f"0{province_code}{century + int(female)}{birth.year % 100:02d}{self.rng.randrange(10**6):06d}"

    # -- places ----------------------------------------------------------------------------
    def old_addresses(self) -> bool:
        """This complaint's address is of the 2021 lists (always under the 2021 map)."""
        return self.units.map == "2021" or self.rng.random() < self.config.old_address_share

    def place(self, old: bool = True) -> tuple[str, str | None, str | None]:
        """(province, district, commune): of the 2021 lists, or (old=False) of the map in force,
        where the province's weight is that of the old provinces it holds, and no district."""
        province = self.rng.choices(self._provinces, self._province_weights)[0]
        district = self.rng.choice(self._districts_by_province[province])
        if old:
            communes = self._communes_by_district.get(district) or [None]
            return province, district, self.rng.choice(communes)
        in_force = self.units.province_in_force(province) or province
        return in_force, None, self.rng.choice(self._communes_by_province[in_force])

    def site(self, province: str, district: str | None, commune: str | None) -> dict[str, Any]:
        name = (self.units.name("commune", commune) if commune else self.units.name("district", district)) or ""
        return {"site_code": f"S-{province}-{self.rng.randrange(1, 2000):04d}", "name": f"Trạm Y tế {name}",
                "province_code": province, "district_code": district, "commune_code": commune}

    def doses(self, site_code: str | None, complete: bool) -> list[dict[str, Any]]:
        count = self.rng.choice([1, 2, 2, 3])
        vaccine = self.rng.choice(VACCINES)
        start = dt.date(2021, 3, 8) + dt.timedelta(days=self.rng.randrange(0, 240))
        doses = []
        for n in range(1, count + 1):
            dose: dict[str, Any] = {"dose_number": n, "vaccine": vaccine,
                                    "vaccinated_on": (start + dt.timedelta(days=28 * (n - 1))).isoformat(),
                                    "lot_number": f"{vaccine[:3].upper()}{self.rng.randrange(1000, 9999)}",
                                    "site_code": site_code}
            if not complete:
                dose.pop(self.rng.choice(["vaccine", "vaccinated_on"]))
            doses.append(dose)
        return doses

    # -- complaints --------------------------------------------------------------------------
    def next_id(self) -> str:
        """Not sequential: an id seen must not tell the next one (the status lookup is keyed by it)."""
        self._serial += 1
        return f"{self.config.id_prefix}-{self._run}-{self.rng.getrandbits(48):012x}"

    def complaint(self, now: dt.datetime, precision: str | None = None) -> dict[str, Any]:
        rng = self.rng
        precision = precision or rng.choices(list(PRECISION_MIX), list(PRECISION_MIX.values()))[0]
        old = self.old_addresses()
        province, district, commune = self.place(old)
        if not old and precision == "district":  # no districts in force: the address names the province
            precision = "province"
        location: dict[str, Any] = {"province_code": None, "district_code": None, "commune_code": None}
        site = None
        doses: list[dict[str, Any]] = []
        if precision == "site_and_doses":
            site = self.site(province, district, commune)
            location = {"province_code": province, "district_code": district, "commune_code": commune}
            doses = self.doses(site["site_code"], complete=True)
        elif precision in ("province", "district", "commune"):
            location["province_code"] = province
            if precision in ("district", "commune"):
                location["district_code"] = district
            if precision == "commune":
                location["commune_code"] = commune
            if precision != "province" and rng.random() < self.config.inconsistent_share:
                # A citizen's slip: a district of another province, or a commune that does not exist.
                if precision == "district":
                    location["district_code"] = self.place(True)[1]
                else:
                    location["commune_code"] = f"{rng.randrange(30000, 99999):05d}"
            if rng.random() < 0.2:  # a dose remembered without all its details
                doses = self.doses(None, complete=False)
        category = rng.choices(list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values()))[0]
        recorded = now - dt.timedelta(seconds=rng.uniform(0, self.config.spread_hours * 3600))
        cid = self.next_id()
        return {
            "schema_version": 1,
            "event_id": f"ev-{cid}",
            "complaint_id": cid,
            "recorded_at": recorded.astimezone(ICT).isoformat(timespec="seconds"),
            "citizen": self.citizen(province),
            "category": category,
            "description": rng.choice(DESCRIPTIONS[category]).format(n=rng.randint(1, 3)),
            "location": location,
            "site": site,
            "doses": doses,
        }

    def resolution(self, complaint: dict[str, Any], resolved_at: dt.datetime) -> dict[str, Any]:
        loc = complaint.get("location") or {}
        if complaint.get("site") and complaint.get("doses"):
            by = {"level": "site", "unit_code": complaint["site"]["site_code"]}
        elif loc.get("province_code"):  # the department in force (an old address's successor)
            by = {"level": "province",
                  "unit_code": self.units.province_in_force(loc["province_code"]) or loc["province_code"]}
        else:
            by = {"level": "national", "unit_code": "VN"}
        outcome = self.rng.choices(["updated", "rejected", "duplicate", "referred"], [70, 15, 10, 5])[0]
        resolution = {"schema_version": 1, "event_id": f"res-{complaint['complaint_id']}",
                      "complaint_id": complaint["complaint_id"],
                      "resolved_at": resolved_at.astimezone(ICT).isoformat(timespec="seconds"),
                      "resolved_by": by, "outcome": outcome}
        return {**resolution, **self.reply(complaint, outcome)}

    @staticmethod
    def reply(complaint: dict[str, Any], outcome: str) -> dict[str, Any]:
        """What an office tells the citizen and, for a missing or wrong dose it fixed, the record's
        corrections. (Its own generator, seeded by the complaint id: the main stream of a seed
        stays what it was.)"""
        rng = random.Random(complaint["complaint_id"])
        if outcome != "updated":
            return {"response": RESPONSES[outcome]}
        category = complaint.get("category")
        if category not in ("missing_record", "missing_dose", "incorrect_record") or rng.random() < 0.3:
            return {"response": RESPONSES["updated"]}
        doses = [d for d in complaint.get("doses") or () if d.get("dose_number")]
        number = rng.choice(doses)["dose_number"] if doses else rng.randint(1, 3)
        fixed = {"dose_number": number, "vaccine": rng.choice(VACCINES),
                 "vaccinated_on": (dt.date(2021, 7, 1) + dt.timedelta(days=rng.randrange(180))).isoformat()}
        action = "replace" if category == "incorrect_record" and doses else "add"
        return {"response": f"Đã {'sửa' if action == 'replace' else 'bổ sung'} mũi {number} trong hồ sơ tiêm chủng "
                            f"của Ông/Bà; chứng nhận sẽ được cập nhật.",
                "corrections": [{"action": action, **fixed}]}

    def malformed(self, now: dt.datetime) -> tuple[str, bytes]:
        """A payload the router must dead-letter, and its key."""
        c = self.complaint(now)
        kind = self.rng.choice(["not_json", "missing_field", "naive_timestamp", "future", "wrong_type", "binary",
                                "nul", "control_character", "lone_surrogate"])
        if kind == "not_json":
            return c["complaint_id"], b"{complaint_id: " + c["complaint_id"].encode() + b", oops"
        if kind == "binary":
            return c["complaint_id"], bytes(self.rng.getrandbits(8) for _ in range(24))
        if kind == "missing_field":
            del c["citizen"]
        elif kind == "naive_timestamp":
            c["recorded_at"] = c["recorded_at"][:19]
        elif kind == "future":
            c["recorded_at"] = (now + dt.timedelta(hours=2)).astimezone(ICT).isoformat(timespec="seconds")
        elif kind == "wrong_type":
            c["doses"] = "two doses"
        elif kind == "nul":  # valid JSON; PostgreSQL text cannot hold it
            c["citizen"]["full_name"] += "\u0000"
        elif kind == "control_character":
            c["description"] = "\x1b[2J" + c["description"]
        elif kind == "lone_surrogate":  # an escape JSON allows but UTF-8 cannot encode
            c["description"] = "@@SURROGATE@@"
            return c["complaint_id"], json.dumps(c, ensure_ascii=False).encode().replace(b"@@SURROGATE@@",
                                                                                          b"\\ud83d")
        return c["complaint_id"], json.dumps(c, ensure_ascii=False).encode()


@dataclass
class Planned:
    """One step of a generated load."""

    kind: str  # complaint | retry | malformed | early_resolution
    key: str
    value: Any  # a dict, or bytes for malformed


def plan(factory: ComplaintFactory, count: int, now: dt.datetime) -> Iterator[Planned]:
    """`count` submissions in the configured mix; early resolutions come on top."""
    cfg = factory.config
    sent: list[dict[str, Any]] = []
    for _ in range(count):
        r = factory.rng.random()
        if sent and r < cfg.retry_share:
            again = factory.rng.choice(sent[-1000:])
            yield Planned("retry", again["complaint_id"], again)
        elif r < cfg.retry_share + cfg.malformed_share:
            key, raw = factory.malformed(now)
            yield Planned("malformed", key, raw)
        else:
            c = factory.complaint(now)
            if factory.rng.random() < cfg.early_resolution_share:
                yield Planned("early_resolution", c["complaint_id"], factory.resolution(c, now))
            sent.append(c)
            yield Planned("complaint", c["complaint_id"], c)
