#!/usr/bin/env bash
# What `make setup` needs from the system, installed from Debian's packages when missing:
# Python 3.11 with venv, a JDK (17 or newer) and Maven (they fetch and run the Kafka broker).
# Needs root or sudo for apt-get; prints what it would install otherwise.
set -euo pipefail
want=()
python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
  || { echo "prerequisites: python3 is not Python 3.11 ($(python3 --version 2>&1)); install Python 3.11" >&2; exit 1; }
python3 -c 'import venv, ensurepip' 2>/dev/null || want+=(python3-venv)
java_major=$(java -version 2>&1 | awk -F '"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1])}')
[ -n "$java_major" ] && [ "$java_major" -ge 17 ] 2>/dev/null || want+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || want+=(maven)
[ ${#want[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "prerequisites: installing ${want[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
