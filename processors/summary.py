"""`python -m processors summary`: where complaints went, read back from the topics."""

from __future__ import annotations

import json
from collections import Counter

from processors.readback import read_committed
from schemas.settings import Settings
from schemas.topics import Topics


def summarize(settings: Settings | None = None) -> str:
    settings = settings or Settings.from_env()
    topics = Topics(settings.topic_prefix)
    routed = read_committed(topics.routed_outputs(), settings)
    by_route: Counter[str] = Counter()
    by_province: Counter[str] = Counter()
    by_handler: Counter[str] = Counter()
    warned = 0
    for record in routed:
        routing = json.loads(record.value)["routing"]
        by_route[routing["route"] + (f"/{routing['level']}" if routing["level"] else "")] += 1
        if routing["route"] == "jurisdiction":
            by_province[routing["province_code"]] += 1
        by_handler[routing["handler"]["level"]] += 1
        warned += bool(routing["warnings"])
    dead = read_committed([topics.dead_letter], settings)
    dead_by_error = Counter(json.loads(r.value)["error"] for r in dead)
    escalations = read_committed([topics.escalations], settings)

    lines = [f"Routed complaints (read_committed, all time): {len(routed)}"]
    lines += [f"  {route:<24} {n:>8}" for route, n in sorted(by_route.items())]
    lines.append(f"  with warnings            {warned:>8}")
    lines.append("By handler level: " + ", ".join(f"{k} {v}" for k, v in sorted(by_handler.items())))
    top = ", ".join(f"{p}: {n}" for p, n in by_province.most_common(10))
    lines.append(f"Jurisdiction topics used: {len(by_province)} of 63; busiest: {top}")
    lines.append(f"Dead letters: {len(dead)}" + (" (" + ", ".join(f"{k} {v}" for k, v in
                                                               sorted(dead_by_error.items())) + ")" if dead else ""))
    lines.append(f"Escalations: {len(escalations)}")
    lines.append(f"Metrics: stream worker http://{settings.metrics_host}:{settings.worker_metrics_port}/metrics, "
                 f"Postgres sink http://{settings.metrics_host}:{settings.sink_metrics_port}/metrics")
    return "\n".join(lines)
