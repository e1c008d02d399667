#!/usr/bin/env bash
# Background workers of the local stack, with pid files and logs in .run/ (RUN_DIR).
#   local.sh start NAME [--ready URL] -- CMD...   start NAME unless it is already running; with
#       --ready, say "started" only once URL answers 200 (READY_TIMEOUT_S, default 120), and exit 1
#       naming NAME and the first line of its reason if it dies or is not ready by then
#   local.sh stop NAME              SIGTERM, wait up to 30 s, then SIGKILL
#   local.sh status NAME
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run="${RUN_DIR:-$root/.run}"
mkdir -p "$run/logs"

running() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

answers() {  # URL answers 200
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" >/dev/null 2>&1
}

reason() {  # the first line of why NAME stopped: its "cannot start" line, else its last line
  local log=$1 from=$2
  tail -c "+$((from + 1))" "$log" | grep -m1 -E "cannot start|Error|error:" \
    || tail -c "+$((from + 1))" "$log" | grep -v '^\s*$' | tail -1 || true
}

case "${1:-}" in
  start)
    name=$2; shift 2
    ready_url=""
    while [ "${1:-}" != "--" ]; do
      case "${1:-}" in
        --ready) ready_url=$2; shift 2 ;;
        *) echo "usage: $0 start NAME [--ready URL] -- CMD..." >&2; exit 2 ;;
      esac
    done
    shift  # --
    if running "$name"; then echo "$name: running (pid $(cat "$run/$name.pid"))"; exit 0; fi
    cd "$root"
    log="$run/logs/$name.log"
    from=$( [ -f "$log" ] && stat -c %s "$log" || echo 0)
    nohup setsid "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$run/$name.pid"
    deadline=$((SECONDS + ${READY_TIMEOUT_S:-120}))
    while :; do
      if ! running "$name"; then
        why=$(reason "$log" "$from")
        echo "$name: exited while starting: ${why:-no reason in its log}" >&2
        if ! grep -q "cannot start" <<<"$why"; then  # a crash: its last lines say more
          echo "$name: last lines of $log:" >&2
          tail -c "+$((from + 1))" "$log" | tail -20 >&2
        fi
        rm -f "$run/$name.pid"
        exit 1
      fi
      if [ -z "$ready_url" ]; then sleep 1; running "$name" && break; continue; fi
      answers "$ready_url" && break
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "$name: running (pid $(cat "$run/$name.pid")) but not ready after ${READY_TIMEOUT_S:-120} s:" \
             "$(python3 -c 'import sys, urllib.request, urllib.error
try: urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError as e: print(e.read().decode().strip())
except Exception as e: print(e)' "$ready_url"); log $log" >&2
        exit 1
      fi
      sleep 0.3
    done
    echo "$name: started (pid $(cat "$run/$name.pid"))${ready_url:+, ready}, log $log"
    ;;
  stop)
    name=$2
    if running "$name"; then
      pid=$(cat "$run/$name.pid")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null || true
      echo "$name: stopped"
    fi
    rm -f "$run/$name.pid"
    ;;
  status)
    running "$2"
    ;;
  *) echo "usage: $0 start NAME [--ready URL] -- CMD... | stop NAME | status NAME" >&2; exit 2 ;;
esac
