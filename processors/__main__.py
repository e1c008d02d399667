"""python -m processors topics | worker | replay | summary | cutover"""

from __future__ import annotations

import argparse
import logging
import sys

from schemas.reach import reported
from schemas.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m processors", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("topics", help="create every topic of the contract that is missing")
    t.add_argument("--delete", action="store_true",
                   help="instead, delete every topic under TOPIC_PREFIX and of FAUST_APP_ID (refused without a prefix)")
    w = sub.add_parser("worker", help="run the Faust stream worker (router and SLA clock)")
    w.add_argument("-l", "--loglevel", default="info")
    r = sub.add_parser("replay", help="re-publish corrected dead letters onto their source topic")
    r.add_argument("file", nargs="?", help="JSON Lines of dead letters, corrected")
    r.add_argument("--export", metavar="FILE", help="write the dead letters to FILE for correction")
    r.add_argument("--error", help="with --export: only this error kind")
    r.add_argument("--dry-run", action="store_true", help="validate only")
    sm = sub.add_parser("summary", help="counts of routed complaints, dead letters and escalations, from the topics")
    sm.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                    help="first wait up to SECONDS for the router to catch up with complaints.submitted")
    c = sub.add_parser("cutover", help="move the open complaints of the 2021 map to the units in force (ADMIN_MAP=2025)")
    c.add_argument("--timeout", type=float, default=300, metavar="SECONDS",
                   help="how long to wait for the workers to read what is fed back (default 300)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    settings = Settings.from_env()
    if args.command == "worker":  # reports its own start-up failures (processors/engine/worker.py)
        from processors.engine.worker import run

        return run(args.loglevel)
    with reported("processors", settings):
        return command(args, parser, settings)


def command(args: argparse.Namespace, parser: argparse.ArgumentParser, settings: Settings) -> int:
    if args.command == "topics" and args.delete:
        from processors.ops.topics import NotIsolated, delete_topics

        if not settings.topic_prefix:
            parser.error("--delete needs TOPIC_PREFIX: it never deletes an unprefixed deployment")
        try:
            print(f"topics: {len(delete_topics(settings))} deleted")
        except NotIsolated as exc:
            print(f"topics: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "topics":
        from processors.ops.topics import ensure_topics
        from schemas.settings import ReplicationError

        try:
            created = ensure_topics(settings)
        except ReplicationError as exc:
            print(f"topics: {exc}", file=sys.stderr)
            return 2
        print(f"topics: {len(created)} created" + (f" ({', '.join(created[:5])}{', ...' if len(created) > 5 else ''})" if created else ", all present"))
        return 0
    if args.command == "replay":
        from pathlib import Path

        from processors.ops.replay import export, replay

        if args.export:
            print(f"replay: {export(Path(args.export), settings, args.error)} dead letters written to {args.export}")
            return 0
        if not args.file:
            parser.error("replay needs a FILE, or --export FILE")
        sent, refused = replay(Path(args.file), settings, args.dry_run)
        for line in refused:
            print(line, file=sys.stderr)
        print(f"replay: {sent} {'valid' if args.dry_run else 're-published'}, {len(refused)} refused")
        return 1 if refused else 0
    if args.command == "summary":
        from processors.ops.summary import summarize

        if args.wait:
            from processors.ops.summary import wait_for_router

            lag = wait_for_router(settings, args.wait)
            if lag:
                print(f"summary: the router is still {lag} complaints behind after {args.wait:.0f} s", file=sys.stderr)
        print(summarize(settings))
        return 0
    if args.command == "cutover":
        from processors.ops.cutover import CutoverError, run

        try:
            report = run(settings, args.timeout)
        except CutoverError as exc:
            print(f"cutover: {exc}", file=sys.stderr)
            return 2
        print("\n".join(report.lines()))
        return 1 if report.lag else 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
