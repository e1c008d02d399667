"""Checks that need the administrative-unit data set, beyond what the models can say.

One place for them: the producer library refuses what fails before publishing, and the
router dead-letters what still arrives (another client, an older library).
"""

from __future__ import annotations

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
