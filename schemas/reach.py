"""How the command lines fail when Kafka or PostgreSQL cannot be reached: one line that
says what, where and what to run, within seconds, and a non-zero exit; not a minute of
client retries and a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from schemas.kafka_client import ClientPropertiesError
from schemas.settings import Settings

# kafka-python waits 30 s for a first broker by default; a person at a terminal, ~10 s.
BOOTSTRAP_TIMEOUT_MS = 8_000
PG_CONNECT_TIMEOUT_S = 5
EXIT_UNREACHABLE = 2


def database_location(url: str) -> str:
    """host:port/database of a PostgreSQL URL, without the credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"


def _kafka_errors() -> tuple[type[BaseException], ...]:
    import aiokafka.errors
    import kafka.errors

    names = ("NoBrokersAvailable", "KafkaTimeoutError", "KafkaConnectionError")  # the first is kafka-python 2's
    return (*(getattr(kafka.errors, n) for n in names if hasattr(kafka.errors, n)), aiokafka.errors.KafkaConnectionError)


def kafka_unreachable(prog: str, settings: Settings, exc: BaseException) -> str:
    return (f"{prog}: cannot reach Kafka at {settings.kafka_bootstrap} ({exc.__class__.__name__}); "
            f"start the local stack with `make up`, or set KAFKA_BOOTSTRAP")


@contextmanager
def reported(prog: str, settings: Settings) -> Iterator[None]:
    """Run a command; an unreachable Kafka or PostgreSQL ends it with one line on stderr
    and exit code 2. The Kafka client's own retry logs are silenced meanwhile."""
    import psycopg2

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        yield
    except ClientPropertiesError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_UNREACHABLE) from None
    except _kafka_errors() as exc:
        print(kafka_unreachable(prog, settings, exc), file=sys.stderr)
        raise SystemExit(EXIT_UNREACHABLE) from None
    except psycopg2.OperationalError as exc:
        first = (str(exc).strip().splitlines() or ["no answer"])[0]
        print(f"{prog}: cannot reach PostgreSQL at {database_location(settings.database_url)} ({first}); "
              f"start the local stack with `make up`, or set DATABASE_URL", file=sys.stderr)
        raise SystemExit(EXIT_UNREACHABLE) from None
