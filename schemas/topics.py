"""Topic names of the public contract: the one place they are spelled."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.admin_units import configured_map, province_codes


@dataclass(frozen=True)
class Topics:
    """Topic names, optionally behind an environment prefix (see Settings.topic_prefix), for
    the administrative map in force (ADMIN_MAP: one jurisdiction topic per province of it)."""

    prefix: str = ""
    admin_map: str = field(default_factory=configured_map)

    def _name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def submitted(self) -> str:
        return self._name("complaints.submitted")

    @property
    def resolved(self) -> str:
        """The shared resolutions topic: admin only (replays, migration); writers have their own."""
        return self._name("complaints.resolved")

    @property
    def delegations(self) -> str:
        """The shared delegations topic: admin only; each province grants on its own."""
        return self._name("complaints.delegations")

    # -- per-writer topics: the broker's ACLs prove who wrote them ("Who sent it") -----------------
    def resolved_by_office(self, province_code: str) -> str:
        """Resolutions of office-<PP> (the province and its delegated units)."""
        return self._name(f"complaints.resolved.{province_code}")

    @property
    def resolved_by_site_system(self) -> str:
        return self._name("complaints.resolved.site-system")

    @property
    def resolved_by_triage(self) -> str:
        return self._name("complaints.resolved.triage")

    def delegations_of(self, province_code: str) -> str:
        """Delegations granted by province <PP> (office-<PP>), compacted."""
        return self._name(f"complaints.delegations.{province_code}")

    def resolution_inputs(self) -> list[str]:
        """Every topic resolutions are read from: the shared one and each writer's."""
        return [self.resolved, self.resolved_by_site_system, self.resolved_by_triage,
                *(self.resolved_by_office(code) for code in province_codes(self.admin_map))]

    def delegation_inputs(self) -> list[str]:
        return [self.delegations, *(self.delegations_of(code) for code in province_codes(self.admin_map))]

    def origin(self, topic: str) -> tuple[str, str | None]:
        """Who may have written a (possibly prefixed) input topic, as the ACLs say: ("admin", None),
        ("office", PP), ("site-system", None) or ("triage", None)."""
        name = self.source_of(topic)
        for base in ("complaints.resolved.", "complaints.delegations."):
            if name.startswith(base):
                writer = name[len(base):]
                return (writer, None) if writer in ("site-system", "triage") else ("office", writer)
        return "admin", None

    @property
    def site_system(self) -> str:
        return self._name("complaints.site-system")

    @property
    def triage(self) -> str:
        return self._name("complaints.triage")

    @property
    def escalations(self) -> str:
        return self._name("complaints.escalations")

    @property
    def digest(self) -> str:
        return self._name("complaints.digest")

    @property
    def dead_letter(self) -> str:
        return self._name("complaints.dead-letter")

    @property
    def verdicts(self) -> str:
        """The worker's judgement of each resolution (ResolutionVerdict), keyed by complaint_id:
        what the record counts."""
        return self._name("complaints.verdicts")

    @property
    def status(self) -> str:
        """Each complaint's changes of status (ComplaintStatusChanged), keyed by complaint_id: what
        the portal tells the citizen."""
        return self._name("complaints.status")

    @property
    def record_corrections(self) -> str:
        """The changes accepted resolutions make to a citizen's vaccination record
        (RecordCorrection), keyed by national_id: read by the immunization registry only."""
        return self._name("complaints.record-corrections")

    def notices(self) -> list[str]:
        """What the worker tells the world beyond the offices: the portal and the registry
        (contract, "Closing the loop"); not part of the record."""
        return [self.status, self.record_corrections]

    @property
    def digest_parts(self) -> str:
        """Internal: per-partition parts of the daily digest, keyed by province."""
        return self._name("complaints.internal.digest-parts")

    def jurisdiction(self, province_code: str) -> str:
        return self._name(f"complaints.jurisdiction.{province_code}")

    @property
    def reassignments(self) -> str:
        """Internal: routed complaints of an older map, fed back for the cut-over to the map in
        force (python -m processors cutover), keyed by complaint_id."""
        return self._name("complaints.internal.reassignments")

    def all_jurisdictions(self) -> list[str]:
        return [self.jurisdiction(code) for code in province_codes(self.admin_map)]

    def jurisdictions_of(self, admin_map: str) -> list[str]:
        """The jurisdiction topics of a map, in force or not (the cut-over reads the old ones)."""
        return [self.jurisdiction(code) for code in province_codes(admin_map)]

    def routed_outputs(self) -> list[str]:
        """Every topic a routed complaint can land on."""
        return [self.site_system, self.triage, *self.all_jurisdictions()]

    def inputs(self) -> list[str]:
        return [self.submitted, *self.resolution_inputs(), *self.delegation_inputs()]

    def outputs(self) -> list[str]:
        return [*self.routed_outputs(), self.escalations, self.digest, self.dead_letter, self.verdicts,
                *self.notices()]

    def any_jurisdictions(self) -> list[str]:
        """The jurisdiction topics of every map (those of 2025 are codes of 2021 too): what the
        record reads, so that nothing routed before a switch of map is left unread."""
        return sorted({*self.jurisdictions_of("2021"), *self.jurisdictions_of("2025")})

    def recorded(self) -> list[str]:
        """Every topic the PostgreSQL record reads: the worker's verdicts and outputs (not the
        submissions and resolutions it judges), and the delegations."""
        others = [t for t in self.outputs() if t not in {*self.all_jurisdictions(), *self.notices()}]
        return [*self.delegation_inputs(), *others, *self.any_jurisdictions()]

    def internal(self) -> list[str]:
        return [self.digest_parts, self.reassignments]

    def source_of(self, topic: str) -> str:
        """The contract name of a (possibly prefixed) topic."""
        return topic[len(self.prefix):] if self.prefix and topic.startswith(self.prefix) else topic
