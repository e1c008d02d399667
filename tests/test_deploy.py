"""deploy/: alert rules, dashboards, compose file and Kubernetes manifests, checked with the
real tools this machine has (promtool, docker-compose, kubernetes-validate, Strimzi's model)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from schemas import k8s_console, strimzi
from schemas.identities import principals

from harness.processes import REPO

DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "complaints.json"


def run(*args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=None if env is None else {**os.environ, **env})


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed; `make test` installs it (deploy/tools.sh)")
    return path


@pytest.mark.integration
def test_prometheus_config_and_alert_rules_pass_promtool():
    promtool = need("promtool")
    for args in (["check", "config", "deploy/prometheus/prometheus.yml"],
                 ["check", "config", "--syntax-only", "deploy/compose/prometheus.yml"],
                 ["check", "config", "--syntax-only", "deploy/k8s/prometheus-config.yml"],
                 ["check", "rules", "deploy/prometheus/alerts.yml"]):
        done = run(promtool, *args)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
def test_alerts_fire_on_the_series_that_should_raise_them():
    done = run(need("promtool"), "test", "rules", "alerts_test.yml", cwd=DEPLOY / "prometheus")
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_every_alert_rule_has_a_promtool_test_where_it_fires():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((DEPLOY / "prometheus" / "alerts_test.yml").read_text())["tests"]
    fired = {t["alertname"] for test in tests for t in test.get("alert_rule_test", []) if t.get("exp_alerts")}
    assert names - fired == set(), "alert rules no promtool test sees firing"


def exported_metric_names() -> set[str]:
    """Every series name the workers can export, from their prometheus-client registry."""
    from prometheus_client import REGISTRY

    import processors.metrics  # noqa: F401 - registers the worker's metrics
    import sinks.metrics  # noqa: F401 - and the sink's
    import offices.metrics  # noqa: F401 - and the console's

    names = set()
    for family in REGISTRY.collect():
        base = family.name
        names |= {base, f"{base}_total", f"{base}_bucket", f"{base}_sum", f"{base}_count", f"{base}_created"}
    return {n for n in names if n.startswith("complaints_")}


def referenced(text: str) -> set[str]:
    return set(re.findall(r"\bcomplaints_[a-z0-9_]+\b", text))


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def alert_exprs() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def test_dashboards_and_alerts_use_only_series_the_workers_export():
    exported = exported_metric_names()
    metric_names = {n for e in dashboard_exprs() + alert_exprs() for n in referenced(e)}
    assert metric_names and metric_names <= exported, metric_names - exported


def test_grafana_dashboard_is_well_formed():
    dash = json.loads(DASHBOARD.read_text())
    datasource_uid = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"][0]["uid"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) and dash["uid"] and dash["title"]
    titles = " ".join(p["title"] for p in dash["panels"] if p["type"] == "row")
    for topic in ("Intake", "Routes", "Open complaints", "Escalations", "Sink health"):
        assert topic in titles
    for p in dash["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0
        for t in p.get("targets", []):
            assert t["expr"].strip() and t["datasource"]["uid"] == datasource_uid


def compose_volumes(service: dict) -> dict[str, tuple[str, bool]]:
    """source -> (target, read only), from either of compose's volume syntaxes."""
    volumes = {}
    for v in service.get("volumes", []):
        if isinstance(v, str):
            source, target, *mode = v.split(":")
            volumes[source] = (target, mode == ["ro"])
        else:
            volumes[v["source"]] = (v["target"], bool(v.get("read_only")))
    return volumes


def compose_services() -> dict:
    """The compose project as docker compose reads it (after its own checks)."""
    if shutil.which("docker") and run("docker", "compose", "version").returncode == 0:
        cmd = ["docker", "compose"]
    else:
        cmd = [need("docker-compose")]
    done = run(*cmd, "-f", "deploy/compose/docker-compose.yml", "config")
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)["services"]


@pytest.mark.integration
def test_compose_file_is_accepted_by_docker_compose():
    services = compose_services()
    assert {"kafka-1", "kafka-2", "kafka-3", "postgres", "database", "worker", "sink", "console", "prometheus",
            "grafana"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["kafka-1"]["environment"]["MIN_ISR"] == "2"
    # Kafka authenticates as the local broker does, over TLS (the node script and template are
    # run for real in test_compose_kafka_integration.py); each service mounts its own principal.
    template = (DEPLOY / "compose" / "kafka-node.properties").read_text()
    protocols = re.search(r"^listener.security.protocol.map=(.*)$", template, re.M).group(1)
    assert protocols == "SASL_SSL:SASL_SSL,CONTROLLER:SSL" and "allow.everyone.if.no.acl.found=false" in template
    for node in ("kafka-1", "kafka-2", "kafka-3"):
        assert services[node]["entrypoint"] == ["/opt/complaints/kafka-node.sh"]
        assert services[node]["depends_on"]["secrets"]["condition"] == "service_completed_successfully"
        assert compose_volumes(services[node])[f"{node}-secrets"] == ("/etc/kafka/secrets", True)
    for service, principal in (("worker", "router"), ("sink", "sink"), ("principals", "admin")):
        env = services[service]["environment"]
        assert env["KAFKA_CLIENT_PROPERTIES"] == "/etc/kafka/client/client.properties"
        mounts = {k: v for k, v in compose_volumes(services[service]).items() if k.endswith("-secrets")}
        assert mounts[f"{principal}-secrets"] == ("/etc/kafka/client", True)
        assert set(mounts) <= {f"{principal}-secrets", "kafka-secrets"}
    assert not {"kafka-secrets"} & {*compose_volumes(services["worker"]), *compose_volumes(services["sink"])}


@pytest.mark.integration
def test_compose_services_connect_to_postgresql_as_their_own_roles_with_generated_passwords():
    """No password in the file or its environment: the secrets step makes the URLs (sinks/roles.py),
    the superuser is the one-shot `database` service's alone, each service mounts its own URL."""
    services = compose_services()
    env = {f"{n}.{k}": str(v) for n, s in services.items() for k, v in (s.get("environment") or {}).items()}
    assert [k for k in env if "PASSWORD" in k.upper()] == ["postgres.POSTGRES_PASSWORD_FILE"]
    assert not [k for k, v in env.items() if "postgresql://" in v or k.endswith(".DATABASE_URL")]
    assert "python -m sinks roles --dir /secrets/database generate --host postgres" in " ".join(
        services["secrets"]["command"])
    secrets_mounts = compose_volumes(services["secrets"])
    postgres = services["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/complaints/admin.password"
    assert "POSTGRES_USER" not in postgres["environment"]  # the superuser is `postgres`, no service's role
    assert compose_volumes(postgres)["postgres-secrets"] == ("/run/complaints", True)
    assert secrets_mounts["postgres-secrets"][0] == "/secrets/database/mounts/postgres"
    assert services["database"]["command"] == ["python", "-m", "sinks", "roles", "--dir", "/secrets/database", "apply"]
    assert compose_volumes(services["database"]) == {"database-secrets": ("/secrets/database", True)}
    for client in ("sink", "console"):
        service = services[client]
        assert service["environment"]["DATABASE_URLS_DIR"] == "/etc/complaints/database"
        databases = {k: v for k, v in compose_volumes(service).items() if k.endswith("-database")}
        assert databases == {f"{client}-database": ("/etc/complaints/database", True)}
        assert secrets_mounts[f"{client}-database"][0] == f"/secrets/database/mounts/{client}"
        assert service["depends_on"]["database"]["condition"] == "service_completed_successfully"
    console = services["console"]
    assert console["command"] == ["python", "-m", "offices", "console"]
    assert console["environment"]["KAFKA_CLIENT_PROPERTIES"] == ""  # each office's own file, not one for all
    assert console["environment"]["KAFKA_CLIENTS_DIR"] == "/etc/kafka/client"
    assert console["environment"]["CONSOLE_PROXIES"] == "1"  # reached through its TLS proxy only
    assert compose_volumes(console)["console-secrets"] == ("/etc/kafka/client", True)
    assert secrets_mounts["console-secrets"][0] == "/secrets/mounts/console"
    # published on loopback only: staff reach the console through a TLS proxy; the dashboards likewise
    for name in ("console", "prometheus", "grafana"):
        hosts = [p["host_ip"] if isinstance(p, dict) else p.split(":")[0] for p in services[name]["ports"]]
        assert hosts and set(hosts) == {"127.0.0.1"}, name
    scraped = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    assert {j["job_name"]: j["dns_sd_configs"][0]["port"] for j in scraped["scrape_configs"]} == {
        "complaints-worker": 9101, "complaints-sink": 9102, "complaints-console": 9103}
    dockerfile = (DEPLOY / "compose" / "Dockerfile").read_text()
    assert "COPY offices ./offices" in dockerfile


@pytest.mark.integration
def test_kubernetes_manifests_pass_a_strict_schema_check():
    manifests = sorted(str(p) for p in (DEPLOY / "k8s").glob("*.yaml"))
    done = run(str(Path(sys.executable).with_name("kubernetes-validate")), "--strict", "-k", "1.31.0", *manifests)
    assert done.returncode == 0, done.stdout + done.stderr
    core = [d for m in manifests for d in yaml.safe_load_all(Path(m).read_text())
            if d and not d["apiVersion"].startswith("kafka.strimzi.io")]
    assert "failed" not in done.stdout.lower() and done.stdout.count("passed") == len(core), done.stdout


@pytest.mark.integration
def test_strimzi_resources_bind_to_strimzis_model_with_rf3_and_min_isr_2():
    libs = REPO / ".cache" / "strimzi" / "libs"
    if not (libs / ".complete").exists():
        pytest.fail("the Strimzi API model is missing; `make test` fetches it (deploy/tools.sh)")
    check = ["java", "-cp", f"{libs}/*", "deploy/k8s/schema-check/StrimziCheck.java"]
    done = run(*check, "deploy/k8s/kafka.yaml", "deploy/k8s/users.yaml")
    assert done.returncode == 0 and "0 problems" in done.stdout, done.stdout + done.stderr
    assert done.stdout.count("ok KafkaUser/") == len(principals())


def test_strimzi_users_are_generated_from_the_identities_and_each_pod_runs_as_its_own():
    assert (DEPLOY / "k8s" / "users.yaml").read_text() == strimzi.render(), "run: python -m schemas kafka-users"
    kafka = next(d for d in yaml.safe_load_all((DEPLOY / "k8s" / "kafka.yaml").read_text()) if d["kind"] == "Kafka")
    [listener] = kafka["spec"]["kafka"]["listeners"]
    assert listener["tls"] is True and listener["authentication"]["type"] == "scram-sha-512"
    assert kafka["spec"]["kafka"]["authorization"]["superUsers"] == strimzi.SUPER_USERS
    config = {d["metadata"]["name"]: d for d in yaml.safe_load_all((DEPLOY / "k8s" / "config.yaml").read_text())}
    assert config["complaints"]["data"]["KAFKA_BOOTSTRAP"].endswith(f":{listener['port']}")
    for manifest, user in (("worker.yaml", "router"), ("sink.yaml", "sink"), ("topics-job.yaml", "admin")):
        pod = next(d for d in yaml.safe_load_all((DEPLOY / "k8s" / manifest).read_text())
                   if d["kind"] in ("StatefulSet", "Deployment", "Job"))["spec"]["template"]["spec"]
        secrets = {v["name"]: v.get("secret", {}).get("secretName") for v in pod["volumes"]}
        assert secrets["kafka-user"] == user, manifest


def k8s_pods() -> dict[str, dict]:
    """Every pod template of deploy/k8s by its workload's name (the StatefulSet's own pod too)."""
    pods = {}
    for path in (DEPLOY / "k8s").glob("*.yaml"):
        for d in yaml.safe_load_all(path.read_text()):
            if d and d["kind"] in ("StatefulSet", "Deployment", "Job"):
                pods[d["metadata"]["name"]] = d["spec"]["template"]["spec"]
    return pods


def test_kubernetes_pods_reach_postgresql_as_their_own_roles_and_only_the_job_as_superuser():
    pods = k8s_pods()
    [server] = pods["postgres"]["containers"]
    assert {e["name"] for e in server["env"]} >= {"POSTGRES_PASSWORD"} and "POSTGRES_USER" not in {
        e["name"] for e in server["env"]}  # the superuser is `postgres`, no service's role
    keys: dict[str, set[str]] = {}
    for name, pod in pods.items():
        for container in pod["containers"]:
            for e in container.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef", {})
                if ref.get("name") == "postgres":
                    keys.setdefault(name, set()).add(ref["key"])
        for v in pod.get("volumes", []):
            if v.get("secret", {}).get("secretName") == "postgres":
                keys.setdefault(name, set()).update(i["key"] for i in v["secret"]["items"])
    assert keys == {"postgres": {"password"}, "sink": {"sink.url"}, "console": {"console.url"},
                    "complaints-database": {"admin.url", "sink.url", "reports.url", "console.url"}}
    [job] = pods["complaints-database"]["containers"]
    assert job["command"] == ["python", "-m", "sinks", "roles", "--dir", "/etc/complaints/database", "apply"]


def test_the_kubernetes_console_is_generated_and_holds_the_offices_credentials_only():
    assert (DEPLOY / "k8s" / "console.yaml").read_text() == k8s_console.render(), "run: python -m schemas kafka-users"
    pod = k8s_pods()["console"]
    [container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KAFKA_CLIENT_PROPERTIES"] == "" and env["KAFKA_CLIENTS_DIR"] == k8s_console.CLIENTS_DIR
    assert env["CONSOLE_PROXIES"] == "1"
    secrets = [s["secret"]["name"] for v in pod["volumes"] if "projected" in v for s in v["projected"]["sources"]]
    offices = [p for p in principals() if p.startswith("office-")]
    assert secrets == offices and len(offices) == 34  # an office per province in force
    assert {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v} == {"complaints-cluster-ca-cert"}
    clients = next(d for d in yaml.safe_load_all((DEPLOY / "k8s" / "console.yaml").read_text())
                   if d["kind"] == "ConfigMap")["data"]
    assert sorted(clients) == [f"{o}.properties" for o in offices]
    scraped = yaml.safe_load((DEPLOY / "k8s" / "prometheus-config.yml").read_text())
    assert "console.complaints.svc.cluster.local" in json.dumps(scraped["scrape_configs"])


@pytest.mark.integration
def test_the_strimzi_check_catches_a_misspelled_field(tmp_path):
    libs = REPO / ".cache" / "strimzi" / "libs"
    bad = tmp_path / "kafka.yaml"
    bad.write_text((DEPLOY / "k8s" / "kafka.yaml").read_text().replace("    listeners:", "    listenerz:"))
    done = run("java", "-cp", f"{libs}/*", "deploy/k8s/schema-check/StrimziCheck.java", str(bad))
    assert done.returncode == 1 and "spec.kafka.listenerz" in done.stdout


def test_kustomization_names_only_files_that_exist():
    k = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    files = list(k["resources"]) + [f.split("=", 1)[-1] for g in k["configMapGenerator"] for f in g["files"]]
    assert all((DEPLOY / f).is_file() for f in files), [f for f in files if not (DEPLOY / f).is_file()]
    on_disk = {f"k8s/{p.name}" for p in (DEPLOY / "k8s").glob("*.yaml")}
    assert on_disk == set(k["resources"])


def test_the_worker_and_the_sink_are_ready_only_when_they_say_so():
    """Kubernetes asks the same endpoint `make up` waits for (schemas/serving.py)."""
    pods = k8s_pods()
    for name, path in (("worker", "/ready"), ("sink", "/ready"), ("console", "/healthz")):
        [container] = pods[name]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == path, name
    [worker] = pods["worker"]["containers"]
    assert worker["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.integration
def test_the_local_cluster_keeps_its_size_and_refuses_another(tmp_path):
    """kafka.sh: BROKERS chooses the size of new storage; storage formatted for three nodes
    is refused to a one-node start in one line, and unset BROKERS means the storage's size."""
    script = str(REPO / "deploy" / "kafka" / "kafka.sh")

    def kafka(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", script, *args], capture_output=True, text=True, timeout=30,
                              env={**os.environ, "KAFKA_RUN_DIR": str(tmp_path), **env})

    assert kafka("bootstrap").stdout.strip() == "127.0.0.1:9092"
    assert kafka("bootstrap", BROKERS="3").stdout.strip() == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
    odd = kafka("bootstrap", BROKERS="2")
    assert odd.returncode == 2 and "1 or 3 nodes" in odd.stderr
    (tmp_path / "brokers").write_text("3\n")
    assert kafka("bootstrap").stdout.strip().count(",") == 2  # the storage's size
    refused = kafka("start", BROKERS="1")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "is a 3-node cluster, not 1" in refused.stderr
