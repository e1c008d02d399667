"""The delegation registry: which units are delegated now, from every delegations topic.

Domain only (no Kafka client): processors/engine/registry.py follows the topics and applies their
records here; the in-memory driver applies them directly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

from processors import metrics
from processors.domain.intake import delegation_effect
from schemas.admin_units import AdminUnits
from schemas.models import Delegation
from schemas.topics import Topics


class DelegationRegistry(Mapping[str, Delegation]):
    """unit_code -> Delegation in force; a null value (tombstone) revokes.

    Each province grants and revokes on its own topic (complaints.delegations.<PP>); admin's
    shared topic (migration) counts for a unit only while its province's topic says nothing of
    it, so every worker reaches the same registry whatever order it reads the topics in. A grant
    that fails the check, or that its topic's writer may not make, counts as none.
    `revoked_at[unit]`: when a unit last stopped being delegated (its open complaints go back to
    the province: processors/domain/handlers.py, return_revoked).
    """

    def __init__(self, units: AdminUnits, topics: Topics) -> None:
        self.units = units
        self.topics = topics
        self._own: dict[str, Delegation | None] = {}     # from the unit's province's topic
        self._shared: dict[str, Delegation | None] = {}  # from the shared topic
        self.revoked_at: dict[str, float] = {}

    def apply(self, topic: str, key: bytes | None, value: bytes | None, timestamp_s: float | None = None) -> None:
        """Apply one record of a delegations topic (at the record's timestamp, in seconds)."""
        effect = delegation_effect(topic, key, value, self.topics, self.units)
        if effect is None:
            return
        layer, unit_code, grant = effect
        before = self.get(unit_code)
        (self._shared if layer == "shared" else self._own)[unit_code] = grant
        if before is not None and self.get(unit_code) is None:
            self.revoked_at[unit_code] = timestamp_s if timestamp_s is not None else time.time()
        self._export()

    def _export(self) -> None:
        levels = {"district": 0, "commune": 0}
        for grant in self.values():
            levels[grant.level] += 1
        for level, n in levels.items():
            metrics.DELEGATIONS_ACTIVE.labels(level=level).set(n)

    def _effective(self) -> dict[str, Delegation]:
        units = set(self._own) | set(self._shared)
        out = {}
        for unit in units:
            grant = self._own[unit] if unit in self._own else self._shared.get(unit)
            if grant is not None:
                out[unit] = grant
        return out

    def get(self, unit_code: str, default=None):  # type: ignore[override]
        grant = self._own[unit_code] if unit_code in self._own else self._shared.get(unit_code)
        return grant if grant is not None else default

    def __getitem__(self, unit_code: str) -> Delegation:
        grant = self.get(unit_code)
        if grant is None:
            raise KeyError(unit_code)
        return grant

    def __iter__(self) -> Iterator[str]:
        return iter(self._effective())

    def __len__(self) -> int:
        return len(self._effective())

    def revoked_since(self, unit_code: str, moment: float) -> bool:
        """The unit is not delegated now, and stopped being so after `moment` (seconds)."""
        return self.get(unit_code) is None and self.revoked_at.get(unit_code, -1.0) > moment
