#!/usr/bin/env bash
# Background workers of the local stack, with pid files and logs in .run/.
#   local.sh start NAME -- CMD...   start NAME unless it is already running
#   local.sh stop NAME              SIGTERM, wait up to 30 s, then SIGKILL
#   local.sh status NAME
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run="$root/.run"
mkdir -p "$run/logs"

running() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

case "${1:-}" in
  start)
    name=$2; shift 3  # start NAME --
    if running "$name"; then echo "$name: running (pid $(cat "$run/$name.pid"))"; exit 0; fi
    cd "$root"
    nohup setsid "$@" >>"$run/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$run/$name.pid"
    sleep 1
    if ! running "$name"; then
      echo "$name: exited at start; last lines of .run/logs/$name.log:" >&2
      tail -20 "$run/logs/$name.log" >&2; exit 1
    fi
    echo "$name: started (pid $(cat "$run/$name.pid")), log .run/logs/$name.log"
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
  *) echo "usage: $0 start NAME -- CMD... | stop NAME | status NAME" >&2; exit 2 ;;
esac
