"""Prometheus metrics of the stream worker (router and SLA clock), served on :9101."""

from __future__ import annotations

from functools import lru_cache

from prometheus_client import Counter, Gauge, Histogram

from schemas.serving import Readiness, serve as serve_http

RECEIVED = Counter("complaints_received_total", "Submitted events read from complaints.submitted")
ROUTED = Counter("complaints_routed_total", "Complaints routed, by decision",
                 ["route", "province", "level", "handler_level"])
WARNINGS = Counter("complaints_routing_warnings_total", "Codes dropped while routing (rule 4), by kind", ["kind"])
RETRIES_SKIPPED = Counter("complaints_retries_skipped_total", "Resubmissions of an already routed complaint_id")
DEAD_LETTERS = Counter("complaints_dead_letters_total", "Events sent to complaints.dead-letter, by error",
                       ["source", "error"])
ROUTING_LATENCY = Histogram(
    "complaints_routing_latency_seconds",
    "From the Kafka timestamp of the submitted event to the routed event being sent",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
REKEYED = Counter("complaints_rekeyed_total",
                  "Events not keyed by their complaint_id, put back on their topic keyed right", ["topic"])
OPEN = Gauge("complaints_open", "Routed complaints with no resolution yet, by province", ["province"])
DUE_SOON = Gauge("complaints_open_due_soon", "Open complaints due soon: their deadline within 24 hours "
                 "(schemas.models.DUE_SOON, as in the console and the digest)",
                 ["province"])
OVERDUE = Gauge("complaints_open_overdue", "Open complaints past their deadline (escalated, awaiting a result)",
                ["province"])
ROUTER_LAG = Gauge("complaints_router_lag", "Submitted events this worker's partitions have not read yet")
ESCALATIONS = Counter("complaints_escalations_total", "ComplaintEscalated events emitted, by stage and province",
                      ["stage", "province"])
ESCALATION_DELAY = Histogram(
    "complaints_escalation_delay_seconds", "From a stage's due time to its escalation being sent", ["stage"],
    buckets=(0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 3600, 86400),
)
RESOLUTIONS = Counter("complaints_resolutions_total", "Resolutions read, by what they did", ["effect"])
LATE_RESOLUTIONS = Counter("complaints_late_resolutions_total",
                           "First resolutions whose resolved_at is after the deadline (the SLA report's late)")
TIME_TO_RESOLUTION = Histogram(
    "complaints_time_to_resolution_hours", "From recorded_at to the first resolution's resolved_at",
    buckets=(1, 2, 4, 8, 12, 24, 36, 48, 60, 72, 96, 168),
)
RESOLUTIONS_EXPIRED = Counter(
    "complaints_resolutions_expired_total",
    "Resolutions whose complaint never arrived, dropped after PENDING_RESOLUTION_TTL_S (default 14 days)")
REASSIGNED = Counter("complaints_reassigned_total",
                     "Open complaints moved to another unit, by reason (cutover, revocation) and effect "
                     "(moved; unchanged: resolved, moved already or not a jurisdiction route)",
                     ["reason", "effect"])
STATUS_CHANGES = Counter("complaints_status_changes_total",
                         "ComplaintStatusChanged events sent to complaints.status, by status", ["status"])
CORRECTIONS = Counter("complaints_record_corrections_total",
                      "Accepted resolutions with corrections, by effect (sent: a RecordCorrection to "
                      "complaints.record-corrections; unaddressed: routed before the worker kept the citizen's ID)",
                      ["effect"])
REJOINS = Counter("complaints_worker_rejoins_total",
                  "Times this worker was fenced (a transaction it could not commit), rebuilt its tables "
                  "from the changelogs and joined its group again without exiting")
DIGESTS = Counter("complaints_digests_total", "DailyDigest events emitted")
DELEGATIONS_ACTIVE = Gauge("complaints_delegations_active", "Delegated units in this worker's registry", ["level"])
REGISTRY_RECORDS = Counter("complaints_delegations_registry_records_total",
                           "Records of the delegations topics this worker's registry has applied")


@lru_cache(maxsize=8192)
def routed(route: str, province: str, level: str, handler_level: str) -> Counter:
    """ROUTED's child for these labels, looked up once (labels() costs a lock and a dict
    per call on the router's hot path)."""
    return ROUTED.labels(route=route, province=province, level=level, handler_level=handler_level)


READINESS = Readiness(Gauge("complaints_worker_ready",
                             "1 once the worker has its partitions, its recovered tables and the delegation "
                             "registry (GET /ready answers 200), else 0"))


def serve(port: int, host: str = "127.0.0.1") -> None:
    """/metrics, and /ready for `make up` and Kubernetes (schemas/serving.py)."""
    serve_http(port, host, READINESS)
