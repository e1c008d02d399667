"""A steady day: what the worker and the brokers spend per complaint at a steady rate, and
how late a read_committed consumer sees it, against the same worker on a backlog.

    python -m benchmarks.steady [--rate 500] [--seconds 60] [--backlog 30000]
    make bench BENCH_ARGS="--steps steady_day"     (the same, as a step of make bench)

Each run writes .run/bench/steady-<N>brokers.json; the table printed sets the figures of the
cluster measured now beside the last ones on record for the other size, so one run on one
broker and one on three (make bench BROKERS=3) read side by side.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace

from benchmarks.__main__ import OUT, VisibilityWatch, cpu_seconds, log, pct, publish_paced, wait_count
from harness.cluster import Cluster
from harness.processes import as_admin, free_port, worker_process
from processors.ops.topics import delete_topics, ensure_topics
from producers.client import ComplaintPublisher
from producers.generator import ComplaintFactory, GeneratorConfig
from schemas.settings import Settings

GOAL_CPU_RATIO = 1.5  # steady CPU per complaint within this many times the backlog's
GOAL_P99_MS = 100.0


def broker_cpu(nodes: list[int]) -> float:
    """CPU seconds the local brokers have used so far (their pid files: deploy/kafka/kafka.sh);
    NaN for a cluster that is not the local one."""
    try:
        return sum(cpu_seconds(Cluster.pid(n)) for n in nodes)
    except (OSError, ValueError, subprocess.CalledProcessError):
        return float("nan")


def measure(rate: float, seconds: int, backlog: int) -> dict:
    run = uuid.uuid4().hex[:8]
    OUT.mkdir(parents=True, exist_ok=True)  # run on its own from a fresh clone: no make bench made it
    base = as_admin(Settings.from_env())
    s = replace(base, topic_prefix=f"steady-{run}.", faust_app_id=f"steady-{run}.router",
                faust_data_dir=str(OUT / f"steady-{run}"), worker_metrics_port=free_port())
    nodes = Cluster(s).brokers()
    ensure_topics(s)
    factory = ComplaintFactory(GeneratorConfig(seed=500, id_prefix=f"D{run}", retry_share=0, malformed_share=0,
                                               early_resolution_share=0, spread_hours=24))
    worker = worker_process(s, OUT / f"steady-{run}.log")
    results: dict = {"run": run, "brokers": len(nodes), "cores": os.cpu_count(), "rate": rate, "seconds": seconds,
                     "backlog": backlog, "commit_interval_s": s.commit_interval_s,
                     "fetch_max_wait_ms": s.worker_fetch_max_wait_ms, "fetch_min_bytes": s.worker_fetch_min_bytes}
    try:
        worker.start(timeout_s=300)
        pid = worker.proc.pid

        # The backlog figure: the same worker routing a backlog as fast as it goes.
        now = dt.datetime.now(dt.timezone.utc)
        with ComplaintPublisher(s) as pub:
            for c in (factory.complaint(now) for _ in range(backlog)):
                pub.publish_complaint(c, wait=False)
            pub.flush()
        cpu: list[float] = []
        wait_count(worker.received, backlog, 900, cpu, pid)
        results["backlog_cpu_us"] = cpu[0] / backlog * 1e6
        log(f"backlog of {backlog:,}: {results['backlog_cpu_us']:.0f} µs CPU a complaint")
        time.sleep(5)  # idle: the backlog's last commits done

        # The steady day: `rate` a second, paced, watched as an office's consumer sees it.
        n = int(rate * seconds)
        batch = [factory.complaint(dt.datetime.now(dt.timezone.utc)) for _ in range(n)]
        ids = {c["complaint_id"] for c in batch}
        watch = VisibilityWatch(s, s.topics.routed_outputs(), ids)
        before = worker.received()
        cpu0, broker0, sent_at = cpu_seconds(pid), broker_cpu(nodes), {}
        start = time.monotonic()
        offered = publish_paced(s, batch, rate, sent_at)
        wait_count(worker.received, before + n, 300)
        time.sleep(2 * s.commit_interval_s + 1)
        worker_s, broker_s = cpu_seconds(pid) - cpu0, broker_cpu(nodes) - broker0
        elapsed = time.monotonic() - start
        seen = watch.stop()
        latencies = [(seen[k] - sent_at[k]) * 1000 for k in ids if k in seen]
        results.update({
            "offered": offered,
            "steady_cpu_us": worker_s / n * 1e6,
            "broker_cpu_us": broker_s / n * 1e6,
            "broker_cores": broker_s / elapsed,
            "worker_cores": worker_s / elapsed,
            "visible": len(latencies),
            "p50_ms": pct(latencies, 0.5), "p95_ms": pct(latencies, 0.95), "p99_ms": pct(latencies, 0.99),
        })
        results["cpu_ratio"] = results["steady_cpu_us"] / results["backlog_cpu_us"]
        log(json.dumps(results))
    finally:
        worker.stop()
        delete_topics(s)
    return results


ROWS = [("offered", "complaints/s offered", "{:,.0f}"), ("backlog_cpu_us", "worker µs CPU/complaint, backlog", "{:,.0f}"),
        ("steady_cpu_us", "worker µs CPU/complaint, steady", "{:,.0f}"),
        ("cpu_ratio", f"steady / backlog (goal ≤ {GOAL_CPU_RATIO})", "{:.2f}"),
        ("broker_cpu_us", "brokers µs CPU/complaint, steady", "{:,.0f}"),
        ("broker_cores", "brokers' cores busy, steady", "{:.2f}"), ("worker_cores", "worker's cores busy, steady", "{:.2f}"),
        ("p50_ms", "visible latency p50 (ms)", "{:,.0f}"), ("p95_ms", "visible latency p95 (ms)", "{:,.0f}"),
        ("p99_ms", f"visible latency p99 (ms, goal ≤ {GOAL_P99_MS:.0f})", "{:,.0f}"),
        ("visible", "complaints seen by the consumer", "{:,}")]


def table(by_size: dict[int, dict]) -> str:
    sizes = sorted(by_size)
    head = [f"Steady day on {os.cpu_count()} cores: " + "; ".join(
        f"{size} broker{'s' if size > 1 else ''}: run {r['run']}, {r['rate']:,.0f}/s for {r['seconds']} s, "
        f"commit every {r['commit_interval_s']} s" for size, r in sorted(by_size.items())),
        f"{'figure':<44}" + "".join(f"{f'{size} broker' + ('s' if size > 1 else ''):>14}" for size in sizes)]
    for key, label, fmt in ROWS:
        head.append(f"{label:<44}" + "".join(f"{fmt.format(by_size[size].get(key, float('nan'))):>14}"
                                             for size in sizes))
    return "\n".join(head)


def record(results: dict) -> str:
    """Keep this run's figures for its cluster size; the table of every size on record."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"steady-{results['brokers']}brokers.json").write_text(json.dumps(results, indent=2))
    by_size = {}
    for path in OUT.glob("steady-*brokers.json"):
        r = json.loads(path.read_text())
        by_size[r["brokers"]] = r
    return table(by_size)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.steady", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--backlog", type=int, default=30_000)
    args = parser.parse_args()
    print(record(measure(args.rate, args.seconds, args.backlog)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
