"""python -m offices console | users add|disable|enable|reset|list|demo | inbox"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
import time

import psycopg2

from schemas.reach import PG_CONNECT_TIMEOUT_S, reported
from schemas.settings import Settings

DEMO_UNIT = ("province", "79")  # Thành phố Hồ Chí Minh: the demo load's busiest province
DEMO_USERNAME = "demo-79"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m offices", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("console", help="serve the office console and the status lookup (CONSOLE_PORT, 8080)")

    users = sub.add_parser("users", help="office staff accounts, managed by their province")
    verbs = users.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="a new account for a unit of the province")
    add.add_argument("--province", required=True, help="the managing province (2 digits); the unit must be in it")
    add.add_argument("--level", required=True, choices=["province", "district", "commune"])
    add.add_argument("--unit", required=True, help="the unit's code: province, district or commune")
    add.add_argument("--username", required=True)
    add.add_argument("--name", default="", help="the person's display name")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input (else one is generated and printed)")
    for verb, text in (("disable", "sign-in refused, open sessions end"), ("enable", "allowed again"),
                       ("reset", "a new password (generated and printed, or --password-stdin); sessions end"),
                       ("signout", "end every open session of the account (a lost or shared computer)")):
        v = verbs.add_parser(verb, help=text)
        v.add_argument("--province", required=True, help="the managing province")
        v.add_argument("username")
        if verb == "reset":
            v.add_argument("--password-stdin", action="store_true")
    lst = verbs.add_parser("list", help="accounts, of one province or all")
    lst.add_argument("--province")
    verbs.add_parser("demo", help=f"make or reset the demo account {DEMO_USERNAME} and print its sign-in")

    inbox = sub.add_parser("inbox", help="show a unit's complaints live from its jurisdiction topic")
    inbox.add_argument("--province", required=True)
    inbox.add_argument("--unit", help="a delegated district or commune (default: the whole province)")
    inbox.add_argument("--group", help="consumer group (default office-PP.inbox[.UNIT])")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    settings = Settings.from_env()
    with reported("offices", settings):
        if args.command == "console":
            return serve(settings)
        if args.command == "inbox":
            return show_inbox(args, settings)
        return manage_users(args, settings)


def serve(settings: Settings) -> int:
    from prometheus_client import start_http_server
    from waitress import serve as waitress_serve

    from offices.web import SERVE_THREADS, create_app

    wait_for_schema(settings)
    app = create_app(settings)
    start_http_server(settings.console_metrics_port, addr=settings.metrics_host)
    print(f"console ready at http://{settings.console_host}:{settings.console_port}/ "
          f"(metrics :{settings.console_metrics_port})", flush=True)
    waitress_serve(app, host=settings.console_host, port=settings.console_port, threads=SERVE_THREADS, ident="console")
    return 0


def wait_for_schema(settings: Settings, timeout_s: float = 90.0) -> None:
    """The sink owns the tables and applies the migrations at its start; the console (which
    may not change the schema) waits for the newest table it uses (its sessions) to exist."""
    deadline = time.monotonic() + timeout_s
    while True:
        conn = psycopg2.connect(settings.database_url_as("console"), connect_timeout=PG_CONNECT_TIMEOUT_S)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass('console_sessions') IS NOT NULL")
                if cur.fetchone()[0]:
                    return
        finally:
            conn.close()
        if time.monotonic() > deadline:
            raise SystemExit("offices: the database lacks the console's tables; start the sink "
                             "(make up), or apply the migrations: python -m sinks migrate")
        time.sleep(1)


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated)."""
    from offices.accounts import generate_password

    if not from_stdin:
        return generate_password(), True
    text = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass("password: ")
    return text, False


def manage_users(args: argparse.Namespace, settings: Settings) -> int:
    from offices.accounts import AccountError, Accounts
    from schemas.admin_units import load

    wait_for_schema(settings)
    conn = psycopg2.connect(settings.database_url_as("console"), connect_timeout=PG_CONNECT_TIMEOUT_S)
    accounts = Accounts(conn, load(settings.admin_map))
    try:
        if args.verb == "list":
            for a in accounts.list(args.province):
                state = "disabled" if a.disabled else "enabled"
                print(f"{a.username}\t{a.province_code}\t{a.level} {a.unit_code}\t{state}\t{a.display_name}")
            return 0
        if args.verb == "demo":
            password = _password(False)[0]
            level, unit = DEMO_UNIT
            if accounts.get(DEMO_USERNAME) is None:
                accounts.add(DEMO_USERNAME, level, unit, password, "Demo office")
            else:
                accounts.reset(DEMO_USERNAME, password)
                accounts.set_disabled(DEMO_USERNAME, False)
            print(f"console: http://{settings.console_host}:{settings.console_port}/office/ - sign in as "
                  f"{DEMO_USERNAME} / {password} ({level} {unit})")
            return 0
        if args.verb == "add":
            password, generated = _password(args.password_stdin)
            a = accounts.add(args.username, args.level, args.unit, password, args.name, province_code=args.province)
            print(f"added {a.username}: {a.level} {a.unit_code} of province {a.province_code}"
                  + (f"; password {password} (give it to the person; they cannot see it again)" if generated else ""))
            return 0
        if args.verb == "reset":
            password, generated = _password(args.password_stdin)
            a = accounts.reset(args.username, password, args.province)
            print(f"reset {a.username}" + (f"; new password {password}" if generated else ""))
            return 0
        if args.verb == "signout":
            ended = accounts.sign_out_everywhere(args.username, args.province)
            print(f"{args.username}: {ended} open session{'s' if ended != 1 else ''} ended")
            return 0
        a = accounts.set_disabled(args.username, args.verb == "disable", args.province)
        print(f"{a.username}: {'disabled' if a.disabled else 'enabled'}")
        return 0
    except AccountError as exc:
        print(f"users {args.verb}: {exc}", file=sys.stderr)
        return 2
    finally:
        conn.close()


def show_inbox(args: argparse.Namespace, settings: Settings) -> int:
    from offices.inbox import Inbox
    from offices.present import local, urgency
    from schemas.times import utcnow

    def show(c) -> None:
        r = c.routing
        state, hours = urgency(r.deadline, utcnow())
        when = f"{hours} h overdue" if state == "overdue" else f"{hours} h left"
        warnings = f"  warnings: {', '.join(r.warnings)}" if r.warnings else ""
        print(f"{c.complaint_id}  {r.handler.level} {r.handler.unit_code}  {c.category:<16} "
              f"recorded {local(c.recorded_at)}  deadline {local(r.deadline)} ({when}){warnings}", flush=True)

    with Inbox(args.province, args.unit, settings=settings, group_id=args.group) as inbox:
        print(f"inbox: {inbox.topic} as office-{args.province}, group {inbox.group_id}"
              f"{', unit ' + args.unit if args.unit else ''}; times in Asia/Ho_Chi_Minh; Ctrl-C to stop",
              file=sys.stderr, flush=True)
        try:
            inbox.run(show)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
