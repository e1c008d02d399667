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
    set (sites are the vaccination system's own), so any site code passes."""
    known = {
        "province": units.provinces,
        "district": units.districts,
        "commune": units.communes,
    }.get(level)
    if level == "national":
        return None if unit_code == NATIONAL_UNIT else f"the national unit is {NATIONAL_UNIT!r}"
    if known is not None and unit_code not in known:
        return f"no {level} has code {unit_code!r}"
    return None


def resolution_problem(resolution: ComplaintResolved, units: AdminUnits) -> str | None:
    problem = unknown_unit(resolution.resolved_by.level, resolution.resolved_by.unit_code, units)
    return f"resolved_by: {problem}" if problem else None


def delegation_problem(grant: Delegation, units: AdminUnits) -> str | None:
    """A grant must name a real unit, under the province and district it gives."""
    if units.province(grant.province_code) is None:
        return f"province_code: no province has code {grant.province_code!r}"
    district = units.district(grant.district_code)
    if district is None:
        return f"district_code: no district has code {grant.district_code!r}"
    if district.parent != grant.province_code:
        return f"district_code: district {grant.district_code} is not in province {grant.province_code}"
    if grant.commune_code is not None:
        commune = units.commune(grant.commune_code)
        if commune is None:
            return f"commune_code: no commune has code {grant.commune_code!r}"
        if commune.parent != grant.district_code:
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
                     handler: Mapping[str, str]) -> str | None:
    """A resolution counts only from the complaint's handler (for a site route, its site) or
    its province. The same rule is the view accepted_resolutions in the record
    (sinks/migrations/0004_accepted_resolutions.sql)."""
    if level == handler["level"] and unit_code == handler["unit_code"]:
        return None
    if level == "province" and province_code is not None and unit_code == province_code:
        return None
    allowed = f"{handler['level']} {handler['unit_code']}"
    if province_code is not None and handler["level"] != "province":
        allowed += f" or province {province_code}"
    return f"resolved_by: {level} {unit_code} does not handle this complaint (only {allowed})"
