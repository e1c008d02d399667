"""python -m sinks postgres | migrate | roles | report sla | report overdue | quarantine"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path

import psycopg2

from schemas.reach import PG_CONNECT_TIMEOUT_S, reported
from schemas.settings import DATABASE_CLIENTS, DEFAULT_DATABASE_URLS_DIR, Settings
from schemas.times import ICT


def timestamp(text: str) -> dt.datetime:
    """A date (midnight, Asia/Ho_Chi_Minh) or an ISO 8601 timestamp with offset."""
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        if len(text) > 10:
            raise argparse.ArgumentTypeError(f"{text!r}: give an offset, e.g. {text}+07:00")
        value = value.replace(tzinfo=ICT)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sinks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("postgres", help="run the Kafka to PostgreSQL sink")
    sub.add_parser("migrate", help="apply the schema migrations and exit")
    roles = sub.add_parser("roles", help="the database's roles on a server in a container (sinks/roles.py)")
    roles.add_argument("--dir", type=Path, default=None,
                       help="where the URLs are kept (default DATABASE_URLS_DIR, else .run/postgres)")
    verbs = roles.add_subparsers(dest="verb", required=True)
    for verb, text in (("generate", "write the URLs this install lacks, with fresh passwords"),
                       ("kubernetes", "print a Secret manifest with fresh URLs")):
        g = verbs.add_parser(verb, help=text)
        g.add_argument("--host", required=True, help="the server's host name as the services reach it")
        g.add_argument("--port", type=int, default=5432)
        g.add_argument("--database", default="complaints")
    verbs.add_parser("apply", help="as the superuser (admin.url): roles, database, migrations, grants")
    r = verbs.add_parser("rotate", help="a new password in a client's URL (apply sets it)")
    r.add_argument("client", choices=list(DATABASE_CLIENTS))
    report = sub.add_parser("report", help="SLA reports")
    kinds = report.add_subparsers(dest="report", required=True)
    now = dt.datetime.now(dt.timezone.utc)

    s = kinds.add_parser("sla", help="SLA compliance per province or per handler over a period")
    s.add_argument("--by", choices=["province", "first-province", "handler"], default="province",
                   help="province: the province in force (old provinces count for their successor); "
                        "first-province: the province a complaint was first routed to; handler: its handler now")
    s.add_argument("--from", dest="start", type=timestamp, default=now - dt.timedelta(days=30),
                   help="recorded_at from (date or timestamp; default 30 days ago)")
    s.add_argument("--to", dest="end", type=timestamp, default=now + dt.timedelta(minutes=5),
                   help="recorded_at before (default now)")
    s.add_argument("--as-of", type=timestamp, default=now, help="judge open complaints at this time")
    s.add_argument("--province", help="only this province")
    s.add_argument("--format", choices=["table", "csv"], default="table")

    o = kinds.add_parser("overdue", help="the overdue list of one office")
    o.add_argument("--level", required=True, choices=["site", "province", "district", "commune", "national"])
    o.add_argument("--unit", required=True, help="unit code: site code, province/district/commune code, VN")
    o.add_argument("--as-of", type=timestamp, default=now)
    o.add_argument("--format", choices=["table", "csv"], default="table")

    q = sub.add_parser("quarantine", help="events set aside: PostgreSQL refused them, or they could not be read")
    q.add_argument("--limit", type=int, default=50, help="newest first (default 50)")
    q.add_argument("--format", choices=["table", "csv"], default="table")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    settings = Settings.from_env()
    if args.command == "postgres":
        from sinks.postgres import run

        return run(settings)
    if args.command == "roles":
        return manage_roles(args)
    with reported("sinks", settings):
        return command(args, settings)


def manage_roles(args: argparse.Namespace) -> int:
    from sinks import roles

    directory = args.dir or Path(os.environ.get("DATABASE_URLS_DIR") or DEFAULT_DATABASE_URLS_DIR)
    try:
        if args.verb == "generate":
            made = roles.generate(directory, args.host, args.port, args.database)
            print(f"roles: {', '.join(made) or 'nothing'} made in {directory}", file=sys.stderr)
        elif args.verb == "kubernetes":
            print(roles.kubernetes_secret(roles.fresh_urls(args.host, args.port, args.database)), end="")
        elif args.verb == "rotate":
            roles.rotate(directory, args.client)
            print(f"roles: a new password for {args.client} in {directory}; now run: python -m sinks roles apply",
                  file=sys.stderr)
        else:
            urls = roles.read_urls(directory, [roles.ADMIN, *roles.ROLES])
            applied = roles.apply(urls.pop(roles.ADMIN), urls)
            print(f"roles: {', '.join(roles.ROLES.values())} in place; migrations applied: "
                  f"{', '.join(applied) or 'none missing'}", file=sys.stderr)
    except (roles.RolesError, psycopg2.Error) as exc:
        # psycopg2's messages name the role or the database, never a password.
        print(str(exc).strip(), file=sys.stderr)
        return 1
    return 0


def command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        from sinks.migrate import migrate

        print("applied: " + (", ".join(migrate(settings.database_url)) or "nothing, schema up to date"))
        from sinks.units import refresh_provinces

        print(f"provinces: {refresh_provinces(settings.database_url, settings.admin_map)} codes, "
              f"map in force {settings.admin_map}")
        return 0
    from sinks import report as reports

    with psycopg2.connect(settings.database_url_as("reports"), connect_timeout=PG_CONNECT_TIMEOUT_S) as conn:
        if args.command == "quarantine":
            headers, rows = reports.quarantined(conn, args.limit)
        elif args.report == "sla":
            headers, rows = reports.sla(conn, args.by, args.start, args.end, args.as_of, args.province)
        else:
            headers, rows = reports.overdue(conn, args.level, args.unit, args.as_of)
    print(reports.render(headers, rows, args.format), end="" if args.format == "csv" else "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
