"""Routing rules 1-4 of the contract, as one pure function.

route(complaint, delegations, units) -> Decision. No I/O, no clock but the one passed
in: the worker's handlers, the tests and the benchmark's naive baseline all call this.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.admin_units import AdminUnits
from schemas.models import ComplaintSubmitted, Delegation, Handler
from schemas.topics import Topics

NATIONAL = Handler(level="national", unit_code="VN")


@dataclass(frozen=True)
class Place:
    """The consistent part of the codes a complaint gave, after rule 4's fallbacks, in the
    units of the map in force. `candidates`: the communes an old, split commune became."""

    province_code: str | None = None
    district_code: str | None = None
    commune_code: str | None = None
    warnings: tuple[str, ...] = field(default=())
    candidates: tuple[str, ...] = field(default=())

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
    place: Place = field(default_factory=Place)
    admin_map: str = "2025"

    def topic(self, topics: Topics) -> str:
        if self.route == "site_system":
            return topics.site_system
        if self.route == "jurisdiction":
            assert self.province_code is not None
            return topics.jurisdiction(self.province_code)
        return topics.triage

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
            **self.map_fields(),
        }

    def map_fields(self) -> dict:
        """The routing block's map fields: the map, the place in its units, the candidates."""
        place = self.place
        where = {"province_code": place.province_code, "commune_code": place.commune_code}
        if self.admin_map == "2021":
            where["district_code"] = place.district_code
        fields = {"admin_map": self.admin_map, "location_in_force": where}
        if place.candidates:
            fields["candidates"] = list(place.candidates)
        return fields


def iso(moment: dt.datetime) -> str:
    """ISO 8601 as pydantic writes an aware datetime (UTC as "Z")."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def resolve_place(province: str | None, district: str | None, commune: str | None,
                  units: AdminUnits, prefix: str = "") -> Place:
    """Rule 4 under the map in force (schemas/admin_units.py)."""
    if units.map == "2025":
        return resolve_place_2025(province, district, commune, units, prefix)
    return resolve_place_2021(province, district, commune, units, prefix)


def resolve_place_2021(province: str | None, district: str | None, commune: str | None,
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
        elif not province_ok:  # dropped with its unknown province, which names the mistake
            warn("district_dropped_with_province")
        elif district_unit.parent != province:
            warn("district_not_in_province")
        else:
            district_ok = True

    commune_ok = False
    if commune:
        if commune_unit is None:
            warn("unknown_commune")
        elif not province_ok:
            warn("commune_dropped_with_province")
        elif district_ok and not units.in_district(commune, district):
            warn("commune_not_in_district")
        elif units.province_of_district(commune_unit.parent or "") != province:
            warn("commune_not_in_province")
        else:
            commune_ok = True

    if not province_ok:
        return Place(warnings=tuple(warnings))
    if commune_ok and commune_unit:  # the district given when it is one of the commune's, else its latest
        kept_district = district if district_ok else commune_unit.parent
    else:
        kept_district = district if district_ok else None
    return Place(province_code=province, district_code=kept_district,
                 commune_code=commune if commune_ok else None, warnings=tuple(warnings))


def resolve_place_2025(province: str | None, district: str | None, commune: str | None,
                       units: AdminUnits, prefix: str = "") -> Place:
    """Rule 4 in the units of 2025, the codes of any list since 2021 understood.

    A province code of the list in force is that province; an old one, its successor. A
    district (abolished) only checks the commune; without one it places the complaint at
    province level (`district_abolished`), but for an island district that had no communes,
    which became a special zone: that commune. A commune code of the list in force is that
    commune, unless the district given holds the old commune of that code; an old commune
    routes to its successor, or at province level when it was split (`commune_split`, its
    successors as `candidates`) or when the tables name no successor
    (`commune_successor_unknown`: merged away before 2025). Inconsistent codes are dropped
    as under 2021, each naming itself; an unknown province drops everything below it.
    """
    old = units.history
    warnings: list[str] = []

    def warn(kind: str) -> None:
        warnings.append(prefix + kind)

    old_district = old.districts.get(district) if district else None
    district_province = units.province_in_force(old_district.parent) if old_district else None
    # What the commune code means: (province in force, successor communes, is it an old code)
    meaning: tuple[str | None, tuple[str, ...], bool] | None = None
    if commune:
        old_commune = old.communes.get(commune)
        in_force = units.commune(commune)
        old_here = old_commune is not None and old_district is not None and district in old_commune.district_codes
        if in_force is not None and not old_here:
            meaning = (in_force.parent, (commune,), False)
        elif old_commune is not None:
            meaning = (units.province_in_force(old_commune.province_code), old_commune.successors, True)

    if province:
        province_code = units.province_in_force(province)
        if province_code is None:
            warn("unknown_province")  # and what lies below it goes with it, each code named
            if district:
                warn("district_dropped_with_province" if old_district else "unknown_district")
            if commune:
                warn("commune_dropped_with_province" if meaning else "unknown_commune")
            return Place(warnings=tuple(warnings))
    else:  # implied by the commune, else by the district
        province_code = (meaning[0] if meaning else None) or district_province
        if province_code is None:
            if district:
                warn("unknown_district")
            if commune:
                warn("unknown_commune")
            return Place(warnings=tuple(warnings))

    district_ok = False
    if district:
        if old_district is None:
            warn("unknown_district")
        elif district_province != province_code:
            warn("district_not_in_province")
        else:
            district_ok = True

    commune_code: str | None = None
    candidates: tuple[str, ...] = ()
    commune_placed = False
    if commune:
        if meaning is None:
            warn("unknown_commune")
        elif meaning[0] != province_code:
            warn("commune_not_in_province")
        elif district_ok and not _checks(units, district or "", commune, meaning):
            warn("commune_not_in_district")
        else:
            commune_placed = True
            successors = meaning[1]
            if len(successors) == 1:
                commune_code = successors[0]
            elif successors:
                warn("commune_split")
                candidates = successors
            else:
                warn("commune_successor_unknown")
    if district_ok and not commune_placed:
        island = old.island_communes.get(district or "")
        if island is not None:
            commune_code = island
        else:
            warn("district_abolished")
    return Place(province_code=province_code, commune_code=commune_code, warnings=tuple(warnings),
                 candidates=candidates)


def _checks(units: AdminUnits, district: str, commune: str, meaning: tuple) -> bool:
    """The commune lies in the (old) district: as an old commune of it, or, a commune in
    force, formed from communes of it."""
    if meaning[2]:
        return district in units.history.communes[commune].district_codes
    return district in units.history.districts_of_new.get(commune, frozenset())


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
                     place.warnings + from_site.warnings, from_site.candidates)
    return place


def has_site_details(complaint: ComplaintSubmitted) -> bool:
    """Rule 1: a site code and at least one dose with number, vaccine and date."""
    site = complaint.site
    return bool(site and site.site_code and site.site_code.strip()) and any(d.is_complete() for d in complaint.doses)


def delegated_handler(place: Place, delegations: Mapping[str, Delegation]) -> Handler:
    """The deepest delegated unit on the path, else the province itself.

    A grant counts only for a unit of the granting province: a province delegates its own.
    (The registry holds only grants valid under the map in force: old ones lapse.)
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
                        Handler(level="site", unit_code=complaint.site.site_code), place.warnings, place, units.map)
    if place.province_code:
        return Decision("jurisdiction", place.province_code, place.level,
                        delegated_handler(place, delegations), place.warnings, place, units.map)
    return Decision("triage", None, None, NATIONAL, place.warnings, place, units.map)


def successor_decision(complaint: ComplaintSubmitted, old_province: str | None, old_handler: Mapping[str, str],
                       delegations: Mapping[str, Delegation], units: AdminUnits) -> Decision:
    """The cut-over: where a complaint routed to a jurisdiction under an older map goes under
    the map in force. Its handler is the unit in force that succeeds the old one: the
    province in force over its old province (districts are abolished; old delegations
    lapse), or, for an old commune handler, the commune it became when that commune is
    delegated in force. Its place is read again in the units in force."""
    province = units.province_in_force(old_province)
    assert province is not None, f"no province in force succeeds {old_province!r}"
    place = locate(complaint, units)
    if place.province_code != province:  # placed by codes the old route did not use: keep the province
        place = Place(province_code=province, warnings=place.warnings)
    handler = Handler(level="province", unit_code=province)
    if old_handler.get("level") == "commune":
        old = units.history.communes.get(old_handler["unit_code"])
        became = old.successors if old else ((old_handler["unit_code"],) if units.commune(old_handler["unit_code"])
                                             else ())
        if len(became) == 1:
            grant = delegations.get(became[0])
            if grant is not None and grant.level == "commune" and grant.province_code == province:
                handler = Handler(level="commune", unit_code=became[0])
    return Decision("jurisdiction", province, place.level, handler, place.warnings, place, units.map)
