#!/usr/bin/env bash
# Tools the deployment tests use, from Debian's packages and Maven Central, installed if missing:
# chromium (the console's browser test), promtool and prometheus (deploy/prometheus), docker-compose and openssl (deploy/compose), and the Strimzi
# API model for the Kubernetes manifests' schema check (deploy/k8s/schema-check).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
missing=()
# The console's browser test drives Debian's Chromium (Playwright never downloads a browser here).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
# The compose project's TLS material (deploy/kafka/tls.py), made for real in its test.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "tools: installing ${missing[*]} from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -f "$root/.cache/strimzi/libs/.complete" ]; then
  echo "tools: fetching the Strimzi API model from Maven Central (once)" >&2
  mvn -q -B -f "$root/deploy/k8s/schema-check/pom.xml" package
  touch "$root/.cache/strimzi/libs/.complete"
fi
