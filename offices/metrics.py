"""The console's Prometheus metrics (CONSOLE_METRICS_PORT, 9103). Labels are endpoint names
and outcomes: never a complaint id, a username or anything a citizen typed."""

from prometheus_client import Counter

REQUESTS = Counter("complaints_console_http_requests", "Console HTTP requests by endpoint and status code",
                   ["endpoint", "code"])
SIGN_INS = Counter("complaints_console_sign_ins", "Office sign-in attempts", ["result"])
RESULTS = Counter("complaints_console_results", "Results offices recorded through the console "
                  "(sent: confirmed by Kafka; refused: invalid; failed: Kafka did not confirm)", ["result"])
LOOKUPS = Counter("complaints_console_status_lookups", "Citizens' status lookups", ["result"])
