"""`make bench`: the figures of issue #8, measured on the local stack.

    python -m benchmarks                 # backlog 200,000, 1,000,000 open complaints
    python -m benchmarks --quick         # 20,000 / 100,000: a smoke run of the same steps

Every run works under a fresh topic prefix and consumer groups, prints a table, and writes
it with the raw figures to .run/bench/results-<run>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient

from benchmarks.naive import naive_router
from harness.cluster import Cluster
from processors.ops.readback import read_committed
from processors.ops.topics import delete_topics, ensure_topics
from producers.client import ComplaintPublisher
from producers.generator import ComplaintFactory, GeneratorConfig
from schemas.settings import Settings
from harness.processes import REPO, as_admin, Process, create_database, free_port, metric_value, worker_process

OUT = REPO / ".run" / "bench"


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_count(count: Callable[[], float], total: float, timeout_s: float,
               cpu: list[float] | None = None, pid: int | None = None) -> tuple[float, float]:
    """Wait until count() reaches total; (time of first progress, time done). With `pid`,
    appends to `cpu` the CPU seconds that process used from first progress to done."""
    first = None
    cpu_first = 0.0
    deadline = time.monotonic() + timeout_s
    start_count = count()
    while time.monotonic() < deadline:
        n = count()
        if first is None and n > start_count:
            first = time.monotonic()
            cpu_first = cpu_seconds(pid) if pid else 0.0
        if n >= total:
            if pid and cpu is not None:
                cpu.append(cpu_seconds(pid) - cpu_first)
            return first or time.monotonic(), time.monotonic()
        time.sleep(1.0)  # a scrape costs the worker CPU (its /metrics page is ~75 kB): not 5 a second
    raise RuntimeError(f"reached {count():,.0f} of {total:,.0f} in {timeout_s} s")


def publish_paced(settings: Settings, batch: list[dict], rate: float,
                  sent_at: dict[str, float] | None = None) -> float:
    """Publish `batch` at `rate` a second; the rate achieved. With `sent_at`, notes when each
    complaint was handed to the producer (wall clock, seconds)."""
    with ComplaintPublisher(settings) as pub:
        start = time.monotonic()
        for i, c in enumerate(batch):
            ahead = start + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            if sent_at is not None:
                sent_at[c["complaint_id"]] = time.time()
            pub.publish_complaint(c, wait=False)
        pub.flush()
        return len(batch) / (time.monotonic() - start)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class VisibilityWatch:
    """A read_committed consumer of the routed topics, from their ends on, noting when each
    of `ids` arrives (wall clock, seconds)."""

    def __init__(self, settings: Settings, topics: list[str], ids: set[str]) -> None:
        self.seen: dict[str, float] = {}
        self.done = threading.Event()
        self.consumer = KafkaConsumer(*topics, **settings.kafka_python("admin"), group_id=None,
                                      isolation_level="read_committed", auto_offset_reset="latest")
        self.consumer.poll(timeout_ms=2000)  # joined, at the ends
        self.thread = threading.Thread(target=self.run, args=(ids,), daemon=True)
        self.thread.start()

    def run(self, ids: set[str]) -> None:
        while not self.done.is_set():
            for records in self.consumer.poll(timeout_ms=200).values():
                now = time.time()
                for r in records:
                    key = r.key.decode() if r.key else ""
                    if key in ids and key not in self.seen:
                        self.seen[key] = now

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.thread.join(timeout=10)
        self.consumer.close()
        return self.seen


STEPS = ["producer_and_backlog", "naive_baseline", "faust_ceiling", "faust_ceiling_fanout", "router_backlog", "two_workers_backlog",
         "steady_rate_and_latency", "million_open", "escalation_lag", "restart_recovery", "sink_throughput",
         "steady_day"]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run = uuid.uuid4().hex[:8]
        base = as_admin(Settings.from_env())
        self.settings = replace(base, topic_prefix=f"bench-{self.run}.", faust_app_id=f"bench-{self.run}.router",
                                faust_data_dir=str(OUT / self.run / "faust"), worker_metrics_port=free_port(),
                                sink_metrics_port=free_port(), sink_group_id=f"bench-sink-{self.run}")
        self.topics = self.settings.topics
        self.naive_settings = replace(self.settings, topic_prefix=f"bench-{self.run}-naive.",
                                      faust_app_id=f"bench-{self.run}-naive.router")
        self.two_settings = replace(self.settings, topic_prefix=f"bench-{self.run}-two.",
                                    faust_app_id=f"bench-{self.run}-two.router")
        self.ceiling_settings = replace(self.settings, topic_prefix=f"bench-{self.run}-ceiling.",
                                        faust_app_id=f"bench-{self.run}-ceiling.router",
                                        faust_data_dir=str(OUT / self.run / "ceiling"))
        self.factory = ComplaintFactory(GeneratorConfig(seed=2021, id_prefix=f"B{self.run}", retry_share=0,
                                                        malformed_share=0, early_resolution_share=0,
                                                        inconsistent_share=0.02, spread_hours=args.spread_hours))
        self.results: dict[str, dict] = {}
        self.worker: Process | None = None
        (OUT / self.run).mkdir(parents=True, exist_ok=True)

    def record(self, key: str, value: float, unit: str, how: str, target: str = "") -> None:
        self.results[key] = {"value": value, "unit": unit, "how": how, "target": target}
        log(f"{key}: {value:,.2f} {unit}")

    # -- load ---------------------------------------------------------------------------------
    def complaints(self, n: int, now: dt.datetime) -> list[dict]:
        return [self.factory.complaint(now) for _ in range(n)]

    def publish(self, batch: list[dict], settings: Settings | None = None) -> tuple[float, float]:
        """Publish as fast as the library goes; returns (events/s, mean payload bytes)."""
        sizes = [len(json.dumps(c, ensure_ascii=False).encode()) for c in batch[:2000]]
        with ComplaintPublisher(settings or self.settings) as pub:
            start = time.perf_counter()
            for c in batch:
                pub.publish_complaint(c, wait=False)
            pub.flush()
            elapsed = time.perf_counter() - start
        return len(batch) / elapsed, statistics.mean(sizes)

    def start_worker(self, name: str = "worker") -> Process:
        self.worker = worker_process(self.settings, OUT / self.run / f"{name}.log")
        return self.worker.start(timeout_s=600)

    def received(self) -> float:
        assert self.worker is not None
        return self.worker.received()

    def wait_received(self, total: float, timeout_s: float, cpu: list[float] | None = None) -> tuple[float, float]:
        """Wait until the worker has read `total` submissions; (first-progress time, done time)."""
        assert self.worker is not None and self.worker.proc is not None
        return wait_count(self.received, total, timeout_s, cpu, self.worker.proc.pid)

    def record_cpu(self, key: str, cpu_s: float, events: int, how: str) -> None:
        """CPU per event: steadier than a rate on a shared machine (the broker takes the other core)."""
        self.record(key, cpu_s / events * 1e6, "us CPU/complaint", how)

    # -- the figures --------------------------------------------------------------------------
    def producer_and_backlog(self) -> None:
        n = self.args.backlog
        log(f"generating and publishing a backlog of {n:,} complaints")
        batch = self.complaints(n, dt.datetime.now(dt.timezone.utc))
        rate, size = self.publish(batch)
        self.backlog_batch = batch  # the two-worker step routes the same backlog again
        self.payload_bytes = size
        self.record("producer_rate", rate, "complaints/s",
                    "ComplaintPublisher (kafka-python, idempotent, acks=all, validated), one thread")

    def naive_baseline(self) -> None:
        log("naive baseline: kafka-python consume, classify, produce (no transactions, no state)")
        ensure_topics(self.naive_settings)
        rate, cpu = naive_router(self.settings, self.naive_settings, self.args.backlog)
        self.record("naive_rate", rate, "complaints/s",
                    "plain kafka-python loop over the same backlog: validate, route, produce acks=all")
        self.record_cpu("naive_cpu", cpu, self.args.backlog, "the naive loop's process (its threads too)")

    def faust_ceiling(self) -> None:
        log("Faust ceiling: an exactly-once worker that only forwards each submission")
        rate, cpu = self.ceiling(self.ceiling_settings, fanout=False)
        self.record("faust_ceiling_rate", rate, "complaints/s",
                    "Faust worker, exactly_once, handler forwarding each submission unchanged (benchmarks/ceiling.py)")
        self.record_cpu("faust_ceiling_cpu", cpu, self.args.backlog, "the ceiling's worker process")

    def faust_ceiling_fanout(self) -> None:
        log(f"Faust ceiling, fanned out: the same worker forwarding each submission to one of "
            f"{len(self.ceiling_settings.topics.all_jurisdictions())} province topics")
        target = replace(self.ceiling_settings, topic_prefix=f"bench-{self.run}-fanout.",
                         faust_app_id=f"bench-{self.run}-fanout.router",
                         faust_data_dir=str(OUT / self.run / "fanout"))
        rate, cpu = self.ceiling(target, fanout=True)
        self.record("faust_ceiling_fanout_rate", rate, "complaints/s",
                    "the same, each submission to one of the jurisdiction topics of the map in force (the router's fan-out)")
        self.record_cpu("faust_ceiling_fanout_cpu", cpu, self.args.backlog, "the fanned-out ceiling's process")

    def ceiling(self, target: Settings, fanout: bool) -> tuple[float, float]:
        """Run benchmarks/ceiling.py over the backlog; (forwarded/s, CPU seconds), counted by the
        offsets its transactions commit (a read_committed end offset would count commit markers too)."""
        ensure_topics(target)
        args = ["benchmarks.ceiling", self.settings.topic_prefix] + (["fanout"] if fanout else [])
        name = "fanout" if fanout else "ceiling"
        ceiling = Process(args, target, OUT / self.run / f"{name}.log", ready_line="Worker ready").start(timeout_s=300)
        source = self.settings.topics.submitted
        admin = KafkaAdminClient(**target.kafka_python("admin"))

        def committed() -> float:
            offsets = admin.list_group_offsets({target.faust_app_id: None}).get(target.faust_app_id) or {}
            return float(sum(meta.offset for tp, meta in offsets.items() if tp.topic == source and meta.offset > 0))

        cpu: list[float] = []
        try:
            assert ceiling.proc is not None
            first, done = wait_count(committed, self.args.backlog, timeout_s=1800, cpu=cpu, pid=ceiling.proc.pid)
        finally:
            ceiling.stop()
            admin.close()
        return self.args.backlog / max(done - first, 1e-9), cpu[0]

    def router_backlog(self) -> None:
        log("router on the backlog (exactly-once on)")
        self.start_worker()
        cpu: list[float] = []
        first, done = self.wait_received(self.args.backlog, timeout_s=1800, cpu=cpu)
        rate = self.args.backlog / max(done - first, 1e-9)
        self.record("router_backlog_rate", rate, "complaints/s",
                    f"Faust worker, exactly_once, RocksDB, from a backlog of {self.args.backlog:,}", ">= 5,000")
        self.record_cpu("router_cpu", cpu[0], self.args.backlog, "the worker process")
        self.router_rate = rate

    def two_workers_backlog(self) -> None:
        """The same backlog under topics and a group of its own, routed by two workers."""
        log("two workers on the same backlog (exactly-once on), each with its own tables")
        target = self.two_settings
        ensure_topics(target)
        batch = getattr(self, "backlog_batch", None) or self.complaints(self.args.backlog, dt.datetime.now(dt.timezone.utc))
        self.publish(batch, target)
        workers = [worker_process(replace(target, faust_data_dir=str(OUT / self.run / f"two-{i}"),
                                          worker_metrics_port=free_port()), OUT / self.run / f"two-{i}.log")
                   for i in (1, 2)]
        try:
            for w in workers:
                w.start(timeout_s=600)
            first, done = wait_count(lambda: sum(w.received() for w in workers), self.args.backlog, timeout_s=1800)
        finally:
            for w in workers:
                w.stop()
        rate = self.args.backlog / max(done - first, 1e-9)
        self.record("two_workers_backlog_rate", rate, "complaints/s",
                    f"two Faust workers in one group, same backlog of {self.args.backlog:,}, same cores")

    def steady_rate_and_latency(self) -> None:
        rate = self.args.steady_rate or self.router_rate / 2
        seconds = self.args.steady_seconds
        n = int(rate * seconds)
        log(f"steady load: {rate:,.0f}/s for {seconds} s ({n:,} complaints)")
        batch = self.complaints(n, dt.datetime.now(dt.timezone.utc))
        before = self.received()
        ids = {c["complaint_id"] for c in batch}
        seen = VisibilityWatch(self.settings, self.topics.routed_outputs(), ids)
        assert self.worker is not None and self.worker.proc is not None
        cpu_before = cpu_seconds(self.worker.proc.pid)
        start = time.monotonic()
        offered = publish_paced(self.settings, batch, rate)
        _, done = self.wait_received(before + n, timeout_s=600)
        self.record("router_steady_rate", n / max(done - start, 1e-9), "complaints/s",
                    f"routed while {offered:,.0f}/s were offered")
        self.record_cpu("router_steady_cpu", cpu_seconds(self.worker.proc.pid) - cpu_before, n,
                        f"the worker process, at {offered:,.0f}/s offered (its timers included)")
        time.sleep(2 * self.settings.commit_interval_s + 1)  # the last transactions commit
        visible_at = seen.stop()
        # The steady complaints sit behind the whole backlog: read to the end (the default
        # 30 s cut the read short and left a third of them unmatched).
        submitted = {r.key.decode(): r.timestamp for r in read_committed([self.topics.submitted], self.settings, 600)
                     if r.key.decode() in ids}
        routed = {r.key.decode(): r.timestamp for r in read_committed(self.topics.routed_outputs(), self.settings, 600)
                  if r.key.decode() in ids}
        latencies = [routed[k] - submitted[k] for k in ids if k in routed and k in submitted]
        for q in (0.5, 0.95, 0.99):
            self.record(f"e2e_latency_p{int(q * 100)}", pct(latencies, q), "ms",
                        f"Kafka timestamp of submitted to routed event, at {offered:,.0f}/s offered",
                        "<= 100" if q == 0.99 else "")
        self.record("e2e_latency_samples", len(latencies), "events", "complaints matched for the latency figures")
        # What an office's read_committed consumer sees: the routed event arrives once its
        # transaction commits (COMMIT_INTERVAL_S), not when it is sent.
        visible = [(visible_at[k] - submitted[k] / 1000) * 1000 for k in ids if k in visible_at and k in submitted]
        for q in (0.5, 0.99):
            self.record(f"visible_latency_p{int(q * 100)}", pct(visible, q), "ms",
                        "Kafka timestamp of submitted to a read_committed consumer receiving the routed event")

    def million_open(self) -> None:
        if self.worker is None:  # run on its own (--steps)
            self.start_worker()
        target = self.args.open
        more = target - int(self.received())
        log(f"loading to {target:,} open complaints ({more:,} more)")
        chunk = 50_000
        while more > 0:
            self.publish(self.complaints(min(chunk, more), dt.datetime.now(dt.timezone.utc)))
            more -= chunk
        self.wait_received(target, timeout_s=3600)
        time.sleep(6)  # the worker exports its open-complaint gauges every 5 s
        assert self.worker is not None and self.worker.proc is not None
        self.record("worker_rss_at_open", rss_mb(self.worker.proc.pid), "MB",
                    f"worker RSS with {target:,} open complaints tracked", "<= 1,500")
        open_now = metric_value(self.worker.metrics(self.settings.worker_metrics_port), "complaints_open")
        self.record("open_complaints_tracked", open_now, "complaints", "complaints_open gauge, summed")

    def escalation_lag(self) -> None:
        n = 300
        log(f"{n} complaints falling due over the next minute, on top of the open ones")
        now = dt.datetime.now(dt.timezone.utc)
        probes = []
        for i in range(n):
            c = self.factory.complaint(now)
            recorded = now - dt.timedelta(hours=48) + dt.timedelta(seconds=20 + i * 40 / n)
            c["recorded_at"] = recorded.isoformat()
            probes.append(c)
        with ComplaintPublisher(self.settings) as pub:
            for c in probes:
                pub.publish_complaint(c, wait=False)
            pub.flush()
        ids = {c["complaint_id"] for c in probes}
        deadline = time.monotonic() + 150
        escalated = {}
        while time.monotonic() < deadline and len(escalated) < n:
            time.sleep(2)
            for r in read_committed([self.topics.escalations], self.settings):
                if r.key.decode() in ids:
                    escalated[r.key.decode()] = (json.loads(r.value), r.timestamp)
        lags = [(dt.datetime.fromisoformat(e["escalated_at"]) - dt.datetime.fromisoformat(e["deadline"]))
                .total_seconds() for e, _ in escalated.values()]
        visible = [ts / 1000 - dt.datetime.fromisoformat(e["deadline"]).timestamp() for e, ts in escalated.values()]
        self.record("escalations_emitted", len(escalated), "of", f"{n} probes due while {self.args.open:,} open")
        self.record("escalation_lag_p99", pct(lags, 0.99), "s", "escalated_at - deadline, p99", "<= 2")
        self.record("escalation_lag_max", max(lags) if lags else float("nan"), "s", "escalated_at - deadline, max")
        self.record("escalation_record_lag_max", max(visible) if visible else float("nan"), "s",
                    "Kafka timestamp of the escalation - deadline, max")

    def restart_recovery(self) -> None:
        assert self.worker is not None
        for how in ("clean", "crash"):
            log(f"restart after a {how} stop, with {self.args.open:,} complaints in the tables")
            if how == "clean":
                self.worker.stop()
            else:
                self.worker.kill()
            start = time.monotonic()
            self.start_worker(name=f"worker-{how}")
            ready = time.monotonic() - start
            routed_before = metric_value(self.worker.metrics(self.settings.worker_metrics_port),
                                         "complaints_routed_total")
            probe = self.factory.complaint(dt.datetime.now(dt.timezone.utc))
            with ComplaintPublisher(self.settings) as pub:
                pub.publish_complaint(probe)
            # Routed means the worker's routed counter moved: reading every output topic back
            # to find one complaint would take longer than the recovery being measured.
            while metric_value(self.worker.metrics(self.settings.worker_metrics_port),
                               "complaints_routed_total") <= routed_before and time.monotonic() - start < 900:
                time.sleep(0.2)
            self.record(f"recovery_{how}", time.monotonic() - start, "s",
                        f"restart after a {how} stop until a new complaint is routed (ready after {ready:.1f} s)",
                        "<= 60")

    def sink_throughput(self) -> None:
        log("sink: writing the whole run to PostgreSQL")
        settings = replace(self.settings, database_url=create_database(self.settings.database_url,
                                                                        f"complaints_bench_{self.run}"))
        sink = Process(["sinks", "postgres"], settings, OUT / self.run / "sink.log", ready_line="sink ready").start()
        try:
            port = settings.sink_metrics_port
            start = time.monotonic()
            deadline = start + self.args.sink_seconds
            rows = 0.0
            while time.monotonic() < deadline:
                time.sleep(2)
                text = sink.metrics(port)
                rows = metric_value(text, "complaints_sink_rows_written_total")
                if metric_value(text, "complaints_sink_consumer_lag") == 0 and rows > 0 and \
                        metric_value(text, "complaints_sink_events_total", kind="routed") >= self.received():
                    break
            self.record("sink_rows_per_s", rows / (time.monotonic() - start), "rows/s",
                        f"{rows:,.0f} rows (complaints, routes, escalations) in batches of up to 5,000", ">= 5,000")
        finally:
            sink.stop()

    def steady_day(self) -> None:
        """benchmarks/steady.py: a fresh worker at a steady 500/s against its own backlog figure,
        its table beside the last one on record for the other cluster size."""
        from benchmarks.steady import measure, record

        r = measure(self.args.steady_day_rate, self.args.steady_day_seconds, 30_000)
        self.record("steady_day_cpu", r["steady_cpu_us"], "us CPU/complaint",
                    f"worker at {r['offered']:,.0f}/s offered on {r['brokers']} broker(s); backlog "
                    f"{r['backlog_cpu_us']:,.0f}", f"<= {1.5 * r['backlog_cpu_us']:,.0f}")
        self.record("steady_day_broker_cpu", r["broker_cpu_us"], "us CPU/complaint", "the brokers, same load")
        self.record("steady_day_visible_p99", r["p99_ms"], "ms", "submitted (sent) to a read_committed consumer "
                    f"receiving the routed event; p50 {r['p50_ms']:,.0f}, p95 {r['p95_ms']:,.0f}", "<= 100")
        self.steady_table = record(r)

    def report(self) -> str:
        cores = os.cpu_count()
        head = (f"Benchmark {self.run}: {platform.node()}, {cores} cores, Python {platform.python_version()}, "
                f"Kafka 4.1 KRaft ({len(Cluster(self.settings).brokers())} node(s)), {self.settings.partitions} partitions; "
                f"payload {getattr(self, 'payload_bytes', float('nan')):,.0f} B/complaint (mean), "
                f"recorded_at spread over {self.args.spread_hours:g} h")
        rows = [head, "", f"{'figure':<28} {'value':>14}  {'unit':<14} {'target':<10} how"]
        for key, r in self.results.items():
            rows.append(f"{key:<28} {r['value']:>14,.2f}  {r['unit']:<14} {r['target']:<10} {r['how']}")
        if "naive_rate" in self.results and "router_backlog_rate" in self.results:
            ratio = self.results["router_backlog_rate"]["value"] / self.results["naive_rate"]["value"]
            rows.append(f"{'router / naive':<28} {ratio:>14,.2f}  x")
        if "router_cpu" in self.results and "naive_cpu" in self.results:
            ratio = self.results["naive_cpu"]["value"] / self.results["router_cpu"]["value"]
            rows.append(f"{'router / naive, per CPU':<28} {ratio:>14,.2f}  x  (naive CPU per complaint / router's)")
        if "two_workers_backlog_rate" in self.results and "router_backlog_rate" in self.results:
            ratio = self.results["two_workers_backlog_rate"]["value"] / self.results["router_backlog_rate"]["value"]
            rows.append(f"{'two workers / one':<28} {ratio:>14,.2f}  x")
        if "faust_ceiling_rate" in self.results and "router_backlog_rate" in self.results:
            ratio = self.results["router_backlog_rate"]["value"] / self.results["faust_ceiling_rate"]["value"]
            rows.append(f"{'router / Faust ceiling':<28} {ratio:>14,.2f}  x")
        return "\n".join(rows)

    def main(self) -> int:
        ensure_topics(self.settings)
        steps = [getattr(self, name) for name in self.args.steps]
        try:
            for step in steps:
                step()
        finally:
            if self.worker is not None:
                self.worker.stop()
            if not self.args.keep_topics:
                for settings in (self.settings, self.naive_settings, self.ceiling_settings, self.two_settings):
                    delete_topics(settings)
            text = self.report()
            (OUT / f"results-{self.run}.json").write_text(json.dumps(
                {"run": self.run, "cores": os.cpu_count(), "payload_bytes": getattr(self, "payload_bytes", None),
                 "results": self.results, "table": text}, indent=2))
            print(text)
            if getattr(self, "steady_table", None):
                print("\n" + self.steady_table)
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=200_000)
    parser.add_argument("--open", type=int, default=1_000_000)
    parser.add_argument("--steady-seconds", type=int, default=30)
    parser.add_argument("--steady-rate", type=float, default=0.0,
                        help="complaints/s offered in the latency step (default: half the router's backlog rate)")
    parser.add_argument("--sink-seconds", type=int, default=120)
    parser.add_argument("--steady-day-rate", type=float, default=500.0)
    parser.add_argument("--steady-day-seconds", type=int, default=60)
    parser.add_argument("--spread-hours", type=float, default=24.0,
                        help="recorded_at spread over this many hours before now (0: a burst recorded as published)")
    parser.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=STEPS, metavar="STEP",
                        help=f"run only these steps, in this order ({', '.join(STEPS)})")
    parser.add_argument("--quick", action="store_true", help="20,000 backlog, 100,000 open")
    args = parser.parse_args()
    if args.quick:
        args.backlog, args.open, args.steady_seconds, args.sink_seconds = 20_000, 100_000, 10, 30
    threading.current_thread().name = "bench"
    return Bench(args).main()


if __name__ == "__main__":
    sys.exit(main())
