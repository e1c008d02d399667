"""Topic names of the public contract: the one place they are spelled."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.admin_units import province_codes


@dataclass(frozen=True)
class Topics:
    """Topic names, optionally behind an environment prefix (see Settings.topic_prefix)."""

    prefix: str = ""

    def _name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def submitted(self) -> str:
        return self._name("complaints.submitted")

    @property
    def resolved(self) -> str:
        return self._name("complaints.resolved")

    @property
    def delegations(self) -> str:
        return self._name("complaints.delegations")

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
    def digest_parts(self) -> str:
        """Internal: per-partition parts of the daily digest, keyed by province."""
        return self._name("complaints.internal.digest-parts")

    def jurisdiction(self, province_code: str) -> str:
        return self._name(f"complaints.jurisdiction.{province_code}")

    def all_jurisdictions(self) -> list[str]:
        return [self.jurisdiction(code) for code in province_codes()]

    def routed_outputs(self) -> list[str]:
        """Every topic a routed complaint can land on."""
        return [self.site_system, self.triage, *self.all_jurisdictions()]

    def inputs(self) -> list[str]:
        return [self.submitted, self.resolved, self.delegations]

    def outputs(self) -> list[str]:
        return [*self.routed_outputs(), self.escalations, self.digest, self.dead_letter]

    def internal(self) -> list[str]:
        return [self.digest_parts]

    def source_of(self, topic: str) -> str:
        """The contract name of a (possibly prefixed) topic."""
        return topic[len(self.prefix):] if self.prefix and topic.startswith(self.prefix) else topic
