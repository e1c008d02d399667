"""Checks that need the administrative-unit data set, beyond what the models can say.

One place for them: the producer library refuses what fails before publishing, and the
router dead-letters what still arrives (another client, an older library).
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.admin_units import AdminUnits
from schemas.models import ComplaintResolved, Delegation

NATIONAL_UNIT = "VN"


def unknown_unit(level: str, unit_code: str, units: AdminUnits) -> str | None:
    """Why `unit_code` is not a unit at `level`, or None. Site codes are not in the data
    set (sites are the vaccination system's own), so any site code passes. Under the map of
    2025 the units of the older lists still exist for this check (a result of a handler
    routed before the cut-over); whether such a unit handles a complaint is resolver_problem's."""
    if level == "national":
        return None if unit_code == NATIONAL_UNIT else f"the national unit is {NATIONAL_UNIT!r}"
    if level == "site":
        return None
    if units.unit(level, unit_code) is not None:
        return None
    old = units.history
    if units.map == "2025" and unit_code in {"province": old.provinces, "district": old.districts,
                                            "commune": old.communes}.get(level, {}):
        return None
    return f"no {level} has code {unit_code!r}"


def resolution_problem(resolution: ComplaintResolved, units: AdminUnits) -> str | None:
    problem = unknown_unit(resolution.resolved_by.level, resolution.resolved_by.unit_code, units)
    return f"resolved_by: {problem}" if problem else None


def delegation_problem(grant: Delegation, units: AdminUnits) -> str | None:
    """A grant must name a real unit of the map in force, under the province (and, under
    2021, the district) it gives. Grants of the other map lapse: they are refused here."""
    if units.province(grant.province_code) is None:
        return f"province_code: no province has code {grant.province_code!r}"
    if units.map == "2025":
        if grant.level != "commune" or grant.district_code is not None:
            return ("districts were abolished on 1 July 2025 (ADMIN_MAP=2025): a delegation is to a commune "
                    "in force and names no district_code")
        if units.province_of_commune(grant.commune_code or "") is None:
            return f"commune_code: no commune in force has code {grant.commune_code!r}"
        if units.province_of_commune(grant.commune_code or "") != grant.province_code:
            return f"commune_code: commune {grant.commune_code} is not in province {grant.province_code}"
        return None
    if grant.district_code is None:
        return "district_code: a delegation of the 2021 map names its district (ADMIN_MAP=2021)"
    district = units.district(grant.district_code)
    if district is None:
        return f"district_code: no district has code {grant.district_code!r}"
    if district.parent != grant.province_code:
        return f"district_code: district {grant.district_code} is not in province {grant.province_code}"
    if grant.commune_code is not None:
        if units.commune(grant.commune_code) is None:
            return f"commune_code: no commune has code {grant.commune_code!r}"
        if not units.in_district(grant.commune_code, grant.district_code):
            return f"commune_code: commune {grant.commune_code} is not in district {grant.district_code}"
    return None


# -- identities: who may do what (docs/contract.md, "Identities") ----------------------------

def grant_authority_problem(grant: Delegation) -> str | None:
    """A delegation is granted by the unit's own province (its Department of Health)."""
    if grant.granted_by != grant.province_code:
        return (f"granted_by: a unit of province {grant.province_code} is delegated by that province, "
                f"not by {grant.granted_by!r}")
    return None


def resolver_problem(level: str, unit_code: str, province_code: str | None,
                     handler: Mapping[str, str], units: AdminUnits) -> str | None:
    """The one definition of an accepted resolver: a resolution counts only from the
    complaint's handler (for a site route, its site) or the province in force over the
    complaint's province, and only from a unit of the map in force (under 2025, a complaint
    routed to old province 77 before the cut-over is resolved by 79's department; 77's, and
    the districts, no longer exist)."""
    in_force = units.province_in_force(province_code)
    if level in ("province", "district", "commune") and units.unit(level, unit_code) is None:
        return (f"resolved_by: {level} {unit_code} is not a unit of the map in force ({units.map}); "
                f"only province {in_force} resolves this complaint now")
    if level == handler["level"] and unit_code == handler["unit_code"]:
        return None
    if level == "province" and in_force is not None and unit_code == in_force:
        return None
    allowed = f"{handler['level']} {handler['unit_code']}"
    if in_force is not None and not (handler["level"] == "province" and handler["unit_code"] == in_force):
        allowed += f" or province {in_force}"
    return f"resolved_by: {level} {unit_code} does not handle this complaint (only {allowed})"


# -- who sent it: the writer a topic proves (docs/contract.md, "Who sent it") ------------------

def resolution_origin_problem(writer: tuple[str, str | None], route: str | None, province_code: str | None,
                              level: str, unit_code: str, units: AdminUnits) -> str | None:
    """Why a resolution written on `writer`'s topic does not cover this complaint, or None:
    office-<PP> for jurisdiction complaints whose province in force is PP, by PP or one of its
    units; site-system for site routes, by a site; triage for triage routes; admin for any."""
    kind, pp = writer
    if kind == "admin":
        return None
    if kind == "office":
        in_force = units.province_in_force(province_code)
        if route != "jurisdiction" or in_force != pp:
            where = f"province {in_force}" if route == "jurisdiction" else f"the {route} route"
            return f"complaints.resolved.{pp} carries office-{pp}'s results; this complaint is of {where}"
        if level not in ("province", "district", "commune") or units.province_of(level, unit_code) != pp:
            return f"resolved_by: {level} {unit_code} is not a unit of province {pp}"
        return None
    expected = {"site-system": ("site_system", "site"), "triage": ("triage", "national")}[kind]
    if (route, level) != expected:
        return f"complaints.resolved.{kind} carries {kind}'s results of {expected[0]} routes, by a {expected[1]} unit"
    return None


def delegation_origin_problem(writer: tuple[str, str | None], unit_code: str, grant: Delegation | None,
                              units: AdminUnits) -> str | None:
    """Why a delegation (or, `grant` None, a revocation) on `writer`'s topic is not its writer's
    to make, or None: office-<PP> grants and revokes units of province PP, as PP."""
    kind, pp = writer
    if kind == "admin":
        return None
    if kind != "office":
        return f"{kind} grants no delegations"
    if grant is not None:
        if grant.province_code != pp or grant.granted_by != pp:
            return (f"complaints.delegations.{pp} carries office-{pp}'s grants; this one is of province "
                    f"{grant.province_code}, by {grant.granted_by}")
        return None
    level = "commune" if len(unit_code) == 5 else "district"
    if units.province_of(level, unit_code) != pp:
        return f"complaints.delegations.{pp} revokes units of province {pp} only; {unit_code} is not one"
    return None
