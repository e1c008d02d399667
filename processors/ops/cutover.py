"""`python -m processors cutover`: move the open complaints of the 2021 map to the units in force.

Run once the workers run under ADMIN_MAP=2025. The command reads every complaint routed to a
jurisdiction topic of the 2021 map (its 63 provinces), feeds those not routed under 2025 back
to the workers on complaints.internal.reassignments, waits for the workers to read them, then
reads what moved. The decision is the workers' (processors/domain/handlers.py on_reassignment): a
complaint still open moves once, in their transaction, to the unit in force that succeeds its
handler, with `routing.reassigned_from`; its deadline does not move. Running it again feeds
the same complaints and moves none.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

from kafka import KafkaProducer

from processors.ops.readback import end_offsets, read_committed
from processors.ops.summary import wait_for_router
from schemas.reach import BOOTSTRAP_TIMEOUT_MS
from schemas.settings import Settings
from schemas.topics import Topics

OLD_MAP = "2021"


class CutoverError(RuntimeError):
    """The cut-over cannot run as asked; the message says why."""


@dataclass
class Report:
    read: int = 0        # routed complaints on the old map's topics
    fed: int = 0         # of those, routed under the old map: fed back to the workers
    moved: Counter[tuple[str, str]] = field(default_factory=Counter)  # (old province, province in force) -> n
    lag: int | None = 0  # reassignments the workers had not read when the wait ended

    def lines(self) -> list[str]:
        total = sum(self.moved.values())
        out = [f"cutover: {self.read} complaints on the {OLD_MAP} map's jurisdiction topics, {self.fed} routed under "
               f"{OLD_MAP} fed back to the workers; {total} open ones moved to the units in force"]
        out += [f"  {old} -> {new}: {n}" for (old, new), n in sorted(self.moved.items())]
        if self.lag:
            out.append(f"cutover: the workers had not read {self.lag} of them yet: run it again to see them")
        return out


def run(settings: Settings, timeout_s: float = 300.0) -> Report:
    if settings.admin_map == OLD_MAP:
        raise CutoverError(f"ADMIN_MAP is {OLD_MAP}: set ADMIN_MAP=2025, restart the workers, then run the cut-over")
    topics = settings.topics
    old_topics = Topics(topics.prefix, OLD_MAP).all_jurisdictions()
    since = end_offsets(topics.all_jurisdictions(), settings)
    report = Report()
    routed = read_committed(old_topics, settings, timeout_s)
    producer = KafkaProducer(**settings.kafka_python("admin"), client_id="complaints-cutover", acks="all",
                             enable_idempotence=True, linger_ms=50, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    try:
        for record in routed:
            report.read += 1
            if json.loads(record.value)["routing"].get("admin_map") == settings.admin_map:
                continue  # routed (or moved) under the map in force already
            producer.send(topics.reassignments, key=record.key, value=record.value)
            report.fed += 1
        producer.flush()
    finally:
        producer.close()
    report.lag = wait_for_router(settings, timeout_s, topics.reassignments) if report.fed else 0
    time.sleep(settings.commit_interval_s * 2)  # the last transaction's records become visible
    for record in read_committed(topics.all_jurisdictions(), settings, timeout_s, start=since):
        moved = json.loads(record.value)["routing"].get("reassigned_from")
        if moved and moved.get("reason", "cutover") == "cutover" and moved["topic"] in {
                topics.source_of(t) for t in old_topics}:
            report.moved[(moved["province_code"], json.loads(record.value)["routing"]["province_code"])] += 1
    return report
