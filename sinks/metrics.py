"""Prometheus metrics of the PostgreSQL sink, served on :9102."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from schemas.serving import Readiness, serve as serve_http

ROWS_WRITTEN = Counter("complaints_sink_rows_written_total", "Rows inserted or updated, by table", ["table"])
EVENTS_CONSUMED = Counter("complaints_sink_events_total", "Events read from Kafka, by topic kind", ["kind"])
EVENTS_SKIPPED = Counter("complaints_sink_events_skipped_total",
                         "Events that are not valid values of their topic (the router dead-letters them)",
                         ["kind"])
BATCH_SECONDS = Histogram("complaints_sink_batch_seconds", "Time to write one batch to PostgreSQL (one transaction)",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
BATCH_SIZE = Histogram("complaints_sink_batch_events", "Events per batch",
                       buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000))
CONSUMER_LAG = Gauge("complaints_sink_consumer_lag", "Events not yet stored, by topic kind", ["kind"])
QUARANTINED = Counter("complaints_sink_quarantined_total",
                      "Events set aside in the quarantine table (refused by PostgreSQL, or an output that "
                      "cannot be read), by the table or topic kind they were meant for", ["kind"])
RETRIES = Counter("complaints_sink_retries_total", "Batch writes retried after a PostgreSQL error")
DB_UP = Gauge("complaints_sink_database_up", "1 when the last write to PostgreSQL succeeded")


READINESS = Readiness(Gauge("complaints_sink_ready",
                             "1 once the sink consumes (schema migrated, partitions assigned; GET /ready "
                             "answers 200), else 0"))


def serve(port: int, host: str = "127.0.0.1") -> None:
    """/metrics, and /ready for `make up` and Kubernetes (schemas/serving.py)."""
    serve_http(port, host, READINESS)
