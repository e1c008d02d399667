"""`make chaos`: fault tests against the real stack, as a read_committed consumer sees them.

    python -m benchmarks.chaos [--count 20000] [--only SCENARIO ...] [--runs 3]

Each scenario sends a load (a share of it already overdue, so it must escalate at once),
injects a fault mid-load, and counts complaints and escalations lost and duplicated. The
scenarios with several workers also shift the digest's schedule clock so that 07:00
falls mid-scenario, and count each province's digest of the day (exactly one each).
All counts must be 0 (digests: every province of the map in force, once each) and the workers that should be
running must be up; the exit code says whether.

On the local cluster of three (`make chaos BROKERS=3`) the scenarios are THREE: a broker lost
for good, frozen, restarted in turn, and lost together with a worker, each under two workers;
the broker chosen is the workers' main transaction coordinator, made leader of the scenario's
partitions first. On one broker, SINGLE and MULTI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import replace

from benchmarks.__main__ import OUT, log
from processors.ops.readback import read_committed
from processors.ops.topics import delete_topics, ensure_topics
from producers.client import ComplaintPublisher
from producers.generator import ComplaintFactory, GeneratorConfig
from schemas.admin_units import province_codes
from schemas.settings import Settings
from schemas.topics import Topics
from harness.cluster import Cluster
from harness.processes import REPO, as_admin, Process, create_database, free_port, received_by, worker_process

OVERDUE_SHARE = 0.1
DIGEST_AFTER_S = 45  # the shifted digest clock reaches 07:00 this long after a scenario starts
SINGLE = ["kill_worker", "restart_broker", "stop_postgres", "fuzz"]
MULTI = ["join_mid_load", "leave_cleanly", "kill_one_of_two", "rolling_restart_of_three",
         "broker_restart_during_rebalance"]
# On three brokers (make chaos BROKERS=3), two workers each: a broker lost for good, frozen,
# restarted in turn, and lost with a worker.
THREE = ["kill_leading_broker", "freeze_leading_broker", "rolling_broker_restart", "kill_worker_and_broker"]
FREEZE_S = 30


def longest_gap(timestamps_ms: list[int]) -> float:
    """The longest interval, in seconds, between consecutive timestamps."""
    ordered = sorted(timestamps_ms)
    return max((b - a for a, b in zip(ordered, ordered[1:])), default=0) / 1000


class Chaos:
    def __init__(self, count: int, keep: bool = False) -> None:
        self.n = count
        self.keep = keep
        self.run = uuid.uuid4().hex[:8]
        self.dir = OUT / f"chaos-{self.run}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict] = []
        self.made: list[Settings] = []

    def settings(self, name: str) -> Settings:
        base = as_admin(Settings.from_env())
        s = replace(base, topic_prefix=f"chaos-{self.run}-{name}.", faust_app_id=f"chaos-{self.run}-{name}.router",
                    faust_data_dir=str(self.dir / name / "faust"), worker_metrics_port=free_port(),
                    sink_metrics_port=free_port(), sink_group_id=f"chaos-sink-{self.run}-{name}")
        ensure_topics(s)
        self.made.append(s)
        return s

    def load(self, name: str, n: int) -> list[dict]:
        factory = ComplaintFactory(GeneratorConfig(seed=hash(name) % 10_000, id_prefix=f"X{self.run}{name[:3]}",
                                                   retry_share=0, malformed_share=0, early_resolution_share=0))
        now = dt.datetime.now(dt.timezone.utc)
        batch = [factory.complaint(now) for _ in range(n)]
        for c in batch[: int(n * OVERDUE_SHARE)]:
            c["recorded_at"] = (now - dt.timedelta(hours=49)).isoformat()
        return batch

    @staticmethod
    def publish(settings: Settings, batch: list[dict], retries: int = 1) -> None:
        """Publish (each complaint `retries` times); the portal's own retry on failure."""
        with ComplaintPublisher(settings, timeout_s=120) as pub:
            for c in batch:
                for _ in range(retries):
                    pub.publish_complaint(c, wait=False)
            pub.flush()

    def worker(self, settings: Settings, name: str) -> Process:
        return worker_process(settings, self.dir / f"{name}.log").start()

    def count(self, scenario: str, settings: Settings, batch: list[dict], worker: Process | list[Process],
              digest_date: dt.date | None = None) -> dict:
        """Read the outputs back until everything expected is there (or 150 s passed)."""
        workers = worker if isinstance(worker, list) else [worker]
        topics = settings.topics
        ids = {c["complaint_id"] for c in batch}
        overdue = {c["complaint_id"] for c in batch[: int(len(batch) * OVERDUE_SHARE)]}
        deadline = time.monotonic() + 150
        digests: Counter[str] = Counter()
        provinces = set(province_codes(settings.admin_map))  # each gets its digest of the day
        while True:
            records = read_committed(topics.routed_outputs(), settings)
            routed = Counter(r.key.decode() for r in records)
            escalated = Counter(r.key.decode() for r in read_committed([topics.escalations], settings))
            if digest_date is not None:
                digests = Counter(r.key.decode() for r in read_committed([topics.digest], settings)
                                  if json.loads(r.value)["digest_date"] == digest_date.isoformat())
            done = ids <= set(routed) and overdue <= set(escalated)
            if digest_date is not None:
                done = done and provinces <= set(digests)
            if done or time.monotonic() > deadline:
                break
            time.sleep(2)
        row = {
            "scenario": scenario,
            "complaints_lost": len(ids - set(routed)),
            "complaints_duplicated": sum(1 for k in ids if routed[k] > 1),
            "escalations_lost": len(overdue - set(escalated)),
            "escalations_duplicated": sum(1 for k in overdue if escalated[k] > 1),
            "worker_up": all(w.alive() for w in workers),
            # What the fault cost in latency: the longest time no complaint of the load was routed.
            "longest_pause_s": round(longest_gap([r.timestamp for r in records if r.key.decode() in ids]), 1),
        }
        if digest_date is not None:
            row["digests_missing"] = len(provinces - set(digests))
            row["digests_duplicated"] = sum(1 for n in digests.values() if n > 1)
        log(json.dumps(row))
        self.rows.append(row)
        return row

    # -- scenarios ------------------------------------------------------------------------------
    def fault_mid_load(self, name: str, scenario: str, fault) -> None:
        """Send the load, apply `fault(worker)` once a third is read, then count."""
        s = self.settings(name)
        batch = self.load(name, self.n)
        w = self.worker(s, name)
        sender = threading.Thread(target=self.publish, args=(s, batch))
        sender.start()
        while w.received() < self.n / 3:
            time.sleep(0.1)
        w = fault(s, w) or w
        sender.join()
        self.count(scenario, s, batch, w)
        w.stop()

    def kill_worker(self) -> None:
        def fault(s: Settings, w: Process) -> Process:
            w.kill()
            log("worker killed with SIGKILL mid-load; restarting")
            return self.worker(s, "kill-restarted")

        self.fault_mid_load("kill", "kill -9 the stream worker", fault)

    def restart_broker(self) -> None:
        def fault(s: Settings, w: Process) -> None:
            log("restarting the broker mid-load")
            subprocess.run(["bash", str(REPO / "deploy/kafka/kafka.sh"), "stop"], check=True)
            subprocess.run(["bash", str(REPO / "deploy/kafka/kafka.sh"), "start"], check=True)

        self.fault_mid_load("broker", "restart the broker", fault)

    def stop_postgres(self) -> None:
        import psycopg2

        s = self.settings("pg")
        s = replace(s, database_url=create_database(s.database_url, f"complaints_chaos_{self.run}"))
        batch = self.load("pg", self.n)
        w = self.worker(s, "pg")
        sink = Process(["sinks", "postgres"], s, self.dir / "sink.log", ready_line="sink ready").start()
        sender = threading.Thread(target=self.publish, args=(s, batch))
        sender.start()
        time.sleep(2)
        log("stopping PostgreSQL for 30 s mid-load")
        pg = ["bash", str(REPO / "deploy/postgres/postgres.sh")]
        subprocess.run([*pg, "stop"], check=True)
        time.sleep(30)
        subprocess.run([*pg, "start"], check=True)
        sender.join()
        row = self.count("stop PostgreSQL 30 s (topics)", s, batch, w)
        ids = {c["complaint_id"] for c in batch}
        deadline = time.monotonic() + 300
        stored: Counter[str] = Counter()
        while time.monotonic() < deadline:
            try:
                with psycopg2.connect(s.database_url) as conn, conn.cursor() as cur:
                    cur.execute("SELECT complaint_id FROM routes")
                    stored = Counter(r[0] for r in cur.fetchall())
                    cur.execute("SELECT complaint_id, count(*) FROM escalations GROUP BY complaint_id")
                    esc = dict(cur.fetchall())
            except psycopg2.Error:
                stored, esc = Counter(), {}
            if ids <= set(stored):
                break
            time.sleep(2)
        overdue = {c["complaint_id"] for c in batch[: int(len(batch) * OVERDUE_SHARE)]}
        db_row = {"scenario": "stop PostgreSQL 30 s (rows in PostgreSQL)",
                  "complaints_lost": len(ids - set(stored)),
                  "complaints_duplicated": sum(1 for k in ids if stored[k] > 1),
                  "escalations_lost": len(overdue - set(esc)),
                  "escalations_duplicated": sum(1 for k in overdue if esc.get(k, 0) > 1),
                  "worker_up": w.alive() and sink.alive() and row["worker_up"]}
        log(json.dumps(db_row))
        self.rows.append(db_row)
        sink.stop()
        w.stop()

    def fuzz(self, batches: int = 5, per_batch: int = 2_000, valid: int = 100) -> None:
        """The whole pipeline under fuzzed input: after each batch of fuzzed submissions and
        resolutions, fresh valid complaints still reach PostgreSQL and every process is up."""
        import psycopg2

        from benchmarks.fuzz import fuzzed_payloads

        s = self.settings("fuzz")
        s = replace(s, database_url=create_database(s.database_url, f"complaints_fuzz_{self.run}"))
        w = self.worker(s, "fuzz")
        sink = Process(["sinks", "postgres"], s, self.dir / "fuzz-sink.log", ready_line="sink ready").start()
        topics = Topics(s.topic_prefix)
        payloads = fuzzed_payloads(batches * per_batch)
        factory = ComplaintFactory(GeneratorConfig(seed=17, id_prefix=f"V{self.run}", retry_share=0,
                                                   malformed_share=0, early_resolution_share=0))

        def stored(sql: str, *params) -> int:
            with psycopg2.connect(s.database_url) as conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchone()[0]

        reached, all_up = 0, True
        for n in range(batches):
            chunk = payloads[n * per_batch:(n + 1) * per_batch]
            with ComplaintPublisher(s) as pub:
                for kind, key, raw in chunk:
                    topic = topics.submitted if kind == "submitted" else topics.resolved
                    pub.publish_raw(topic, key, raw, wait=False)
                pub.flush()
            now = dt.datetime.now(dt.timezone.utc)
            good = [factory.complaint(now) for _ in range(valid)]
            self.publish(s, good)
            ids = [c["complaint_id"] for c in good]
            deadline, got = time.monotonic() + 120, 0
            while time.monotonic() < deadline:
                try:
                    got = stored("SELECT count(*) FROM routes WHERE complaint_id = ANY(%s)", ids)
                except psycopg2.Error:
                    got = 0
                if got == len(ids) or not (w.alive() and sink.alive()):
                    break
                time.sleep(1)
            up = w.alive() and sink.alive()
            log(f"fuzz batch {n + 1}/{batches}: {len(chunk):,} fuzzed inputs, then {len(ids)} valid complaints: "
                f"{got} in PostgreSQL; worker {'up' if w.alive() else 'DOWN'}, sink {'up' if sink.alive() else 'DOWN'}")
            reached += got
            all_up = all_up and up
        # The last batch's resolutions may still be on their way to the dead letters: count
        # until the topic and the table agree (or 60 s passed).
        deadline = time.monotonic() + 60
        while True:
            letters = len(read_committed([topics.dead_letter], s))
            time.sleep(3)
            if stored("SELECT count(*) FROM dead_letters") == letters or time.monotonic() > deadline:
                break
        row = {
            "scenario": f"fuzz: {len(payloads):,} inputs in {batches} batches, router and sink",
            "complaints_lost": batches * valid - reached,  # of the valid complaints after each batch
            "dead_letters": letters,
            "dead_letter_rows": stored("SELECT count(*) FROM dead_letters"),
            "complaint_rows": stored("SELECT count(*) FROM complaints"),
            "resolution_rows": stored("SELECT count(*) FROM resolutions"),
            "quarantined_rows": stored("SELECT count(*) FROM quarantine"),
            "worker_up": all_up and w.alive() and sink.alive(),
        }
        log(json.dumps(row))
        self.rows.append(row)
        sink.stop()
        w.stop()

    # -- several workers in one group ----------------------------------------------------------
    def member(self, s: Settings, name: str) -> Process:
        """One more worker of the group of `s`, with its own data dir and metrics port."""
        own = replace(s, faust_data_dir=str(self.dir / s.faust_app_id / name), worker_metrics_port=free_port())
        return self.worker(own, name)

    def group_mid_load(self, name: str, scenario: str, start: int, fault, settings: Settings | None = None) -> None:
        """`start` workers share the load; `fault(s, workers)` runs once a third is read and
        returns the workers that must still be up. The digest clock reaches 07:00 ICT
        DIGEST_AFTER_S after the start, so the day's digests are made mid-scenario."""
        from schemas.times import ICT

        base = settings or self.settings(name)
        now = dt.datetime.now(ICT)
        seven = now.replace(hour=7, minute=0, second=0, microsecond=0)
        seven += dt.timedelta(days=1) if seven <= now else dt.timedelta()
        offset = (seven - now).total_seconds() - DIGEST_AFTER_S
        s = replace(base, digest_clock_offset_s=offset, commit_interval_s=0.5)
        batch = self.load(name, self.n)
        workers = [self.member(s, f"{name}-{i}") for i in range(1, start + 1)]
        sender = threading.Thread(target=self.publish, args=(s, batch))
        sender.start()
        try:
            deadline = time.monotonic() + 180
            while received_by(workers) < self.n / 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            survivors = fault(s, workers)
            sender.join()
            self.count(scenario, s, batch, survivors, digest_date=seven.date())
        finally:  # a scenario that fails leaves no worker behind
            for w in workers:
                w.stop()

    def join_mid_load(self) -> None:
        def fault(s: Settings, workers: list[Process]) -> list[Process]:
            log("a second worker joins mid-load")
            workers.append(self.member(s, "join-2"))
            return workers

        self.group_mid_load("join", "a second worker joins mid-load", 1, fault)

    def leave_cleanly(self) -> None:
        def fault(s: Settings, workers: list[Process]) -> list[Process]:
            log("one of two workers leaves cleanly (SIGTERM) mid-load")
            assert workers[1].stop() == 0, workers[1].tail()
            return workers[:1]

        self.group_mid_load("leave", "one of two leaves cleanly", 2, fault)

    def kill_one_of_two(self) -> None:
        def fault(s: Settings, workers: list[Process]) -> list[Process]:
            log("one of two workers killed with SIGKILL mid-load; not restarted")
            workers[1].kill()
            return workers[:1]

        self.group_mid_load("kill2", "kill -9 one of two workers", 2, fault)

    def rolling_restart_of_three(self) -> None:
        def fault(s: Settings, workers: list[Process]) -> list[Process]:
            for i, w in enumerate(workers):
                log(f"rolling restart: worker {i + 1} of 3")
                assert w.stop() == 0, w.tail()
                w.start()
            return workers

        self.group_mid_load("roll", "rolling restart of three workers", 3, fault)

    def broker_restart_during_rebalance(self) -> None:
        def fault(s: Settings, workers: list[Process]) -> list[Process]:
            log("a third worker joins; the broker restarts during the rebalance")
            joining = worker_process(replace(s, faust_data_dir=str(self.dir / "rebalance-3"),
                                             worker_metrics_port=free_port()), self.dir / "rebalance-3.log")
            thread = threading.Thread(target=joining.start, kwargs={"timeout_s": 180})
            thread.start()
            deadline = time.monotonic() + 60  # the join is under way: its members rebalance
            while time.monotonic() < deadline and not (joining.log.exists()
                                                       and "Joined group" in joining.log.read_text(errors="replace")):
                time.sleep(0.05)
            subprocess.run(["bash", str(REPO / "deploy/kafka/kafka.sh"), "stop"], check=True)
            subprocess.run(["bash", str(REPO / "deploy/kafka/kafka.sh"), "start"], check=True)
            thread.join()
            workers.append(joining)
            return workers

        self.group_mid_load("rebal", "broker restart during a rebalance", 2, fault)

    # -- three brokers ---------------------------------------------------------------------------
    def scenario_topics(self, s: Settings) -> list[str]:
        """The scenario's topics, the workers' changelogs and Kafka's own: what a broker leads."""
        with Cluster(s).admin_session() as admin:
            names = admin.list_topics()
        return [n for n in names if n.startswith((s.topic_prefix, s.faust_app_id))
                or n in ("__consumer_offsets", "__transaction_state")]

    def leading_broker(self, s: Settings) -> int:
        """The broker coordinating most of the workers' transactions, made the leader of every
        partition of the scenario it holds: the one whose loss moves the most at once."""
        cluster = Cluster(s)
        coordinators = cluster.coordinators(f"{s.faust_app_id}-")
        topics = self.scenario_topics(s)
        node = (coordinators or cluster.leaders(topics)).most_common(1)[0][0]
        cluster.lead(node, [t for t in topics if not t.startswith("__")])
        led = cluster.leaders(topics)
        log(f"broker {node}: coordinator of {coordinators[node]} of the workers' {sum(coordinators.values())} "
            f"transactional ids; leads {led[node]} of {sum(led.values())} partitions (others: "
            f"{', '.join(f'{b}: {n}' for b, n in sorted(led.items()) if b != node)})")
        return node

    def three_brokers(self, name: str, scenario: str, fault, after=None) -> None:
        """Two workers under load; `fault(s, workers, cluster)` once a third is read returns the
        workers that must still be up; `after(cluster)` runs once the load is counted (a node
        kept down until then comes back), and the next scenario starts with every replica in sync."""
        s = self.settings(name)
        cluster = Cluster(s)
        if not cluster.wait_brokers(3):
            raise SystemExit("chaos: the three-broker scenarios need the local cluster of three: make chaos BROKERS=3")

        def faulted(s: Settings, workers: list[Process]) -> list[Process]:
            return fault(s, workers, Cluster(s))

        try:
            self.group_mid_load(name, scenario, 2, faulted, settings=s)
        finally:
            if after:
                after(cluster)
            if not cluster.in_sync(self.scenario_topics(s), timeout_s=180):
                log("replicas still out of sync after 180 s")

    def kill_leading_broker(self) -> None:
        down: list[int] = []

        def fault(s: Settings, workers: list[Process], cluster: Cluster) -> list[Process]:
            node = self.leading_broker(s)
            cluster.kill(node)
            down.append(node)
            log(f"broker {node} killed with SIGKILL mid-load; not restarted until the load is counted")
            return workers

        self.three_brokers("bkill", "kill -9 the leading broker (3 brokers)", fault,
                           after=lambda cluster: [cluster.start(n) for n in down])

    def freeze_leading_broker(self) -> None:
        def fault(s: Settings, workers: list[Process], cluster: Cluster) -> list[Process]:
            node = self.leading_broker(s)
            cluster.freeze(node)
            log(f"broker {node} frozen with SIGSTOP for {FREEZE_S} s mid-load")
            time.sleep(FREEZE_S)
            cluster.thaw(node)
            log(f"broker {node} resumed")
            return workers

        self.three_brokers("bfreeze", f"SIGSTOP the leading broker {FREEZE_S} s", fault)

    def rolling_broker_restart(self) -> None:
        def fault(s: Settings, workers: list[Process], cluster: Cluster) -> list[Process]:
            topics = self.scenario_topics(s)
            for node in cluster.brokers():
                log(f"rolling restart: broker {node} of 3")
                cluster.stop(node)
                cluster.start(node)
                if not cluster.in_sync(topics):  # the next goes once this one has caught up
                    log(f"broker {node}: replicas not in sync after 120 s; going on")
            return workers

        self.three_brokers("broll", "rolling restart of three brokers", fault)

    def kill_worker_and_broker(self) -> None:
        down: list[int] = []

        def fault(s: Settings, workers: list[Process], cluster: Cluster) -> list[Process]:
            node = self.leading_broker(s)
            workers[1].kill()
            cluster.kill(node)
            down.append(node)
            log(f"worker 2 and broker {node} killed with SIGKILL together mid-load; neither restarted "
                "until the load is counted")
            return workers[:1]

        self.three_brokers("bwkill", "kill -9 a worker and the leading broker", fault,
                           after=lambda cluster: [cluster.start(n) for n in down])

    def main(self, scenarios: list[str]) -> int:
        try:
            for name in scenarios:
                getattr(self, name)()
        finally:
            for settings in self.made if not self.keep else ():
                delete_topics(settings)
        head = (f"{'scenario':<44} {'lost':>6} {'dup':>6} {'esc lost':>9} {'esc dup':>8} {'dig miss':>9} "
                f"{'dig dup':>8}  workers up  pause")
        lines = [f"Chaos {self.run}: {self.n:,} complaints a scenario, {OVERDUE_SHARE:.0%} overdue on arrival",
                 head]
        for r in self.rows:
            lines.append(f"{r['scenario']:<44} {r['complaints_lost']:>6} {r.get('complaints_duplicated', '-'):>6} "
                         f"{r.get('escalations_lost', '-'):>9} {r.get('escalations_duplicated', '-'):>8} "
                         f"{r.get('digests_missing', '-'):>9} {r.get('digests_duplicated', '-'):>8}  {str(r['worker_up']):<10}  "
                         f"{r.get('longest_pause_s', '-')} s")
            if "quarantined_rows" in r:
                lines.append(f"    dead letters {r['dead_letters']:,} (rows {r['dead_letter_rows']:,}); rows: "
                             f"complaints {r['complaint_rows']:,}, resolutions {r['resolution_rows']:,}, "
                             f"quarantined {r['quarantined_rows']:,}")
        text = "\n".join(lines)
        print(text)
        (OUT / f"chaos-{self.run}.json").write_text(json.dumps({"rows": self.rows, "table": text}, indent=2))
        counted = ("complaints_lost", "complaints_duplicated", "escalations_lost", "escalations_duplicated",
                   "digests_missing", "digests_duplicated")
        ok = all(all(r.get(k, 0) == 0 for k in counted) and r["worker_up"] for r in self.rows)
        return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--only", nargs="*", choices=SINGLE + MULTI + THREE)
    parser.add_argument("--runs", type=int, default=1, help="repeat the scenarios; any failing run fails")
    parser.add_argument("--keep", action="store_true", help="keep the scenarios' topics, to look into a failure")
    args = parser.parse_args()
    cluster = Cluster(as_admin(Settings.from_env()))
    seen = len(cluster.brokers())  # a node just restarted is fenced a little while
    three = seen >= 3 or (seen > 1 and cluster.wait_brokers(3))
    scenarios = args.only or (THREE if three else SINGLE + MULTI)
    codes = [Chaos(args.count, args.keep).main(scenarios) for _ in range(args.runs)]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
