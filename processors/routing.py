"""Routing rules 1-4 of the contract, as one pure function.

route(complaint, delegations, units) -> Decision. No I/O, no clock but the one passed
in: the worker's handlers, the tests and the benchmark's naive baseline all call this.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.admin_units import AdminUnits
from schemas.models import ComplaintSubmitted, Delegation, Handler, Routing
from schemas.topics import Topics

NATIONAL = Handler(level="national", unit_code="VN")


@dataclass(frozen=True)
class Place:
    """The consistent part of the codes a complaint gave, after rule 4's fallbacks."""

    province_code: str | None = None
    district_code: str | None = None
    commune_code: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def level(self) -> str | None:
        if self.commune_code:
            return "commune"
        if self.district_code:
            return "district"
        return "province" if self.province_code else None


@dataclass(frozen=True)
class Decision:
    route: str
    province_code: str | None
    level: str | None
    handler: Handler
    warnings: tuple[str, ...]

    def topic(self, topics: Topics) -> str:
        if self.route == "site_system":
            return topics.site_system
        if self.route == "jurisdiction":
            assert self.province_code is not None
            return topics.jurisdiction(self.province_code)
        return topics.triage

    def routing_block(self, complaint: ComplaintSubmitted, routed_at: dt.datetime) -> Routing:
        return Routing.model_validate(self.routing_json(complaint, routed_at))

    def routing_json(self, complaint: ComplaintSubmitted, routed_at: dt.datetime) -> dict:
        """The routing block as JSON-ready values, as Routing.model_dump(mode="json") gives
        them, without building the model (on the router's hot path; a test keeps them equal)."""
        return {
            "route": self.route,
            "province_code": self.province_code,
            "level": self.level,
            "handler": {"level": self.handler.level, "unit_code": self.handler.unit_code},
            "deadline": iso(complaint.deadline),
            "routed_at": iso(routed_at),
            "warnings": list(self.warnings),
        }


def iso(moment: dt.datetime) -> str:
    """ISO 8601 as pydantic writes an aware datetime (UTC as "Z")."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def resolve_place(province: str | None, district: str | None, commune: str | None,
                  units: AdminUnits, prefix: str = "") -> Place:
    """Keep the deepest consistent chain of codes; every dropped code leaves a warning
    naming it (rule 4).

    Codes imply their parents (rule 2; codes are unique nationwide): a commune implies its
    district and province, a district its province. A commune is placed under the district
    kept, or, when the district given was dropped, under the province. An unknown province
    drops everything below it: the complaint is not placed by codes that contradict it.
    """
    warnings: list[str] = []

    def warn(kind: str) -> None:
        warnings.append(prefix + kind)

    district_unit = units.district(district) if district else None
    commune_unit = units.commune(commune) if commune else None
    if not province:  # implied by the deepest known code below it
        if district_unit is not None:
            province = district_unit.parent
        elif commune_unit is not None:
            province = units.province_of_district(commune_unit.parent or "")
        if not province:
            if district:
                warn("unknown_district")
            if commune:
                warn("unknown_commune")
            return Place(warnings=tuple(warnings))

    province_ok = units.province(province) is not None
    if not province_ok:
        warn("unknown_province")

    district_ok = False
    if district:
        if district_unit is None:
            warn("unknown_district")
        elif not province_ok or district_unit.parent != province:
            warn("district_not_in_province")
        else:
            district_ok = True

    commune_ok = False
    if commune:
        if commune_unit is None:
            warn("unknown_commune")
        elif district_ok and commune_unit.parent != district:
            warn("commune_not_in_district")
        elif not province_ok or units.province_of_district(commune_unit.parent or "") != province:
            warn("commune_not_in_province")
        else:
            commune_ok = True

    if not province_ok:
        return Place(warnings=tuple(warnings))
    return Place(
        province_code=province,
        district_code=commune_unit.parent if commune_ok and commune_unit else (district if district_ok else None),
        commune_code=commune if commune_ok else None,
        warnings=tuple(warnings),
    )


def locate(complaint: ComplaintSubmitted, units: AdminUnits) -> Place:
    """Rule 2's choice of codes: location's; where location has no (valid) province, site's."""
    loc = complaint.location
    place = Place()
    if loc is not None:
        place = resolve_place(loc.province_code, loc.district_code, loc.commune_code, units)
        if place.province_code:
            return place
    site = complaint.site
    if site is not None and site.province_code:
        from_site = resolve_place(site.province_code, site.district_code, site.commune_code, units, "site_")
        return Place(from_site.province_code, from_site.district_code, from_site.commune_code,
                     place.warnings + from_site.warnings)
    return place


def has_site_details(complaint: ComplaintSubmitted) -> bool:
    """Rule 1: a site code and at least one dose with number, vaccine and date."""
    site = complaint.site
    return bool(site and site.site_code and site.site_code.strip()) and any(d.is_complete() for d in complaint.doses)


def delegated_handler(place: Place, delegations: Mapping[str, Delegation]) -> Handler:
    """The deepest delegated unit on the path, else the province itself.

    A grant counts only for a unit of the granting province: a province delegates its own.
    """
    assert place.province_code is not None
    for level, code in (("commune", place.commune_code), ("district", place.district_code)):
        if not code:
            continue
        grant = delegations.get(code)
        if grant is not None and grant.level == level and grant.province_code == place.province_code:
            return Handler(level=level, unit_code=code)
    return Handler(level="province", unit_code=place.province_code)


def route(complaint: ComplaintSubmitted, delegations: Mapping[str, Delegation], units: AdminUnits) -> Decision:
    place = locate(complaint, units)
    if has_site_details(complaint):
        assert complaint.site is not None and complaint.site.site_code
        return Decision("site_system", place.province_code, None,
                        Handler(level="site", unit_code=complaint.site.site_code), place.warnings)
    if place.province_code:
        return Decision("jurisdiction", place.province_code, place.level,
                        delegated_handler(place, delegations), place.warnings)
    return Decision("triage", None, None, NATIONAL, place.warnings)
