"""The console's rate limits are shared by its processes (offices/ratelimits.py, counted in the
real PostgreSQL), and behind a proxy they count each client's forwarded address."""

from __future__ import annotations

import uuid
from dataclasses import replace

import psycopg2
import pytest

from offices.web import create_app
from sinks.migrate import migrate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def console_settings(database, tmp_path_factory):
    migrate(database.database_url)
    return replace(database, console_dir=str(tmp_path_factory.mktemp("console")))


def lookup(client, complaint_id: str, address: str = "127.0.0.1", forwarded: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.get(f"/api/v1/requests/{complaint_id}.json?phone_last4=0000", headers=headers,
                      environ_base={"REMOTE_ADDR": address}).status_code


def test_two_console_processes_share_the_per_complaint_limit(console_settings):
    """20 wrong guesses an hour per complaint id and address, however many replicas answer them;
    another address is not held back by them."""
    one, two = create_app(console_settings).test_client(), create_app(console_settings).test_client()
    probed = f"PROBE-{uuid.uuid4().hex[:8]}"
    guesser = f"10.1.{uuid.uuid4().int % 250}.7"
    codes = [lookup(one if n % 2 else two, probed, address=guesser) for n in range(20)]
    assert codes == [404] * 20
    assert lookup(one, probed, address=guesser) == 429 and lookup(two, probed, address=guesser) == 429
    assert lookup(two, probed, address="10.1.1.2") == 404  # the same id from elsewhere: its own count
    assert lookup(one, f"OTHER-{uuid.uuid4().hex[:8]}", address=guesser) == 404  # another id counts alone


def test_guesses_across_every_address_are_capped_per_complaint_id(console_settings):
    """10,000 last-four digits must not be tried from many addresses at 20 an hour each: 300 wrong
    guesses a day per id, whoever makes them (the trade-off: docs/offices.md, the status lookup)."""
    client = create_app(console_settings).test_client()
    probed = f"CAP-{uuid.uuid4().hex[:8]}"
    codes = [lookup(client, probed, address=f"10.4.{n // 250}.{n % 250}") for n in range(300)]
    assert codes == [404] * 300
    assert lookup(client, probed, address="10.5.0.1") == 429


def test_the_counters_hold_no_address_username_or_complaint_id(console_settings):
    client = create_app(console_settings).test_client()
    probed = f"PROBE-{uuid.uuid4().hex[:8]}"
    assert lookup(client, probed, address="10.77.0.1") == 404
    with psycopg2.connect(console_settings.database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT key FROM console_rate_limits")
        keys = [k for (k,) in cur.fetchall()]
    assert keys and all(len(k) == 40 and probed not in k and "10.77" not in k for k in keys)


def test_behind_a_proxy_each_forwarded_address_has_its_own_limit_and_otherwise_the_header_is_ignored(
        console_settings):
    behind = create_app(replace(console_settings, console_proxies=1)).test_client()
    proxy = f"10.2.{uuid.uuid4().int % 250}.1"
    citizen = f"203.0.113.{uuid.uuid4().int % 250}"
    # 30 lookups a minute per address: the citizen's, not the proxy's
    codes = [lookup(behind, f"P-{uuid.uuid4().hex[:8]}", address=proxy, forwarded=citizen) for _ in range(31)]
    assert codes[:30] == [404] * 30 and codes[30] == 429
    assert lookup(behind, f"P-{uuid.uuid4().hex[:8]}", address=proxy, forwarded=f"{citizen}0") == 404

    direct = create_app(console_settings).test_client()  # CONSOLE_PROXIES=0: a forged header changes nothing
    client = f"10.3.{uuid.uuid4().int % 250}.1"
    codes = [lookup(direct, f"D-{uuid.uuid4().hex[:8]}", address=client, forwarded=f"198.51.100.{n}")
             for n in range(31)]
    assert codes[:30] == [404] * 30 and codes[30] == 429
