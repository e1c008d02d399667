"""python -m producers submit | resolve | grant | revoke | generate | status | corrections"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import logging
import sys
import time
from collections import Counter
from typing import Any

from producers.client import ComplaintPublisher, InvalidEvent, PublishError, loads_events, utcnow
from producers.generator import ComplaintFactory, GeneratorConfig, plan
from schemas.admin_units import load
from schemas.reach import BOOTSTRAP_TIMEOUT_MS, reported
from schemas.settings import Settings


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def cmd_submit(args: argparse.Namespace, pub: ComplaintPublisher) -> int:
    events = loads_events(_read(args.file))
    if not events:
        print("submit: no events in input", file=sys.stderr)
        return 1
    for event in events:
        meta = pub.publish_complaint(event)
        print(f"submitted {event.get('complaint_id')} -> {meta.topic}[{meta.partition}]@{meta.offset}")
    return 0


def correction(text: str) -> dict[str, Any]:
    """ACTION:DOSE[:VACCINE:DATE[:LOT]] as a correction of the contract (validated with the
    resolution before it is sent)."""
    parts = text.split(":")
    if len(parts) not in (2, 4, 5) or not parts[1].isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not ACTION:DOSE[:VACCINE:DATE[:LOT]]")
    value: dict[str, Any] = {"action": parts[0], "dose_number": int(parts[1])}
    if len(parts) >= 4:
        value.update(vaccine=parts[2], vaccinated_on=parts[3])
    if len(parts) == 5:
        value["lot_number"] = parts[4]
    return value


def cmd_resolve(args: argparse.Namespace, pub: ComplaintPublisher) -> int:
    resolved_at = args.at or utcnow().isoformat()
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": args.event_id or f"res-{args.complaint_id}-{int(time.time() * 1000)}",
        "complaint_id": args.complaint_id, "resolved_at": resolved_at,
        "resolved_by": {"level": args.level, "unit_code": args.unit}, "outcome": args.outcome,
    }
    if args.note:
        event["note"] = args.note
    if args.response:
        event["response"] = args.response
    if args.correction:
        event["corrections"] = args.correction
    meta = pub.publish_resolution(event)
    print(f"resolved {args.complaint_id} ({args.outcome}) -> {meta.topic}[{meta.partition}]@{meta.offset}")
    return 0


def grant_for(unit_code: str, granted_by: str | None, granted_at: str | None,
              admin_map: str | None = None) -> dict[str, Any]:
    """A Delegation for a unit code of the map in force, its parents looked up in the data set:
    under 2025 a commune (no district: districts were abolished), under 2021 a district or
    commune."""
    units = load(admin_map)
    if units.map == "2025":
        province = units.province_of_commune(unit_code)
        if province is None:
            raise InvalidEvent(f"{unit_code!r} is not a commune in force (5 digits); under ADMIN_MAP=2025 "
                               "delegations are to communes, districts were abolished")
        return {"unit_code": unit_code, "level": "commune", "province_code": province, "commune_code": unit_code,
                "granted_at": granted_at or utcnow().isoformat(), "granted_by": granted_by or province}
    if units.commune(unit_code):
        district = units.district_of_commune(unit_code)
        province = units.province_of_district(district)
        level, commune = "commune", unit_code
    elif units.district(unit_code):
        district, province, level, commune = unit_code, units.province_of_district(unit_code), "district", None
    else:
        raise InvalidEvent(f"{unit_code!r} is not a district (3 digits) or commune (5 digits) GSO code")
    return {"unit_code": unit_code, "level": level, "province_code": province, "district_code": district,
            "commune_code": commune, "granted_at": granted_at or utcnow().isoformat(),
            "granted_by": granted_by or province}


def cmd_grant(args: argparse.Namespace, pub: ComplaintPublisher) -> int:
    grant = grant_for(args.unit_code, args.by, args.at, pub.topics.admin_map)
    pub.grant_delegation(grant)
    print(f"granted {grant['level']} {args.unit_code} (province {grant['province_code']})")
    return 0


def cmd_revoke(args: argparse.Namespace, pub: ComplaintPublisher) -> int:
    pub.revoke_delegation(args.unit_code)
    print(f"revoked {args.unit_code}")
    return 0


def cmd_generate(args: argparse.Namespace, pub: ComplaintPublisher) -> int:
    from tqdm import tqdm

    factory = ComplaintFactory(GeneratorConfig(
        seed=args.seed, spread_hours=args.spread_hours, retry_share=args.retry_share,
        malformed_share=args.malformed_share, early_resolution_share=args.early_resolution_share,
        id_prefix=args.id_prefix, old_address_share=args.old_addresses), load(pub.topics.admin_map))
    now = utcnow()
    counts: Counter[str] = Counter()
    due: list[tuple[float, int, dict[str, Any]]] = []  # (monotonic due time, tiebreak, resolution)
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    start = time.monotonic()
    next_at = start

    def send_due(until: float) -> None:
        while due and due[0][0] <= until:
            _, _, resolution = heapq.heappop(due)
            pub.publish_resolution(resolution, wait=False)
            counts["resolution"] += 1

    bar = tqdm(total=args.count, unit="ev", disable=args.quiet or None, file=sys.stderr)
    for i, step in enumerate(plan(factory, args.count, now)):
        if interval:
            next_at += interval
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        if step.kind in ("complaint", "retry"):
            pub.publish_complaint(step.value, wait=False)
            if step.kind == "complaint" and factory.rng.random() < args.resolve_share:
                resolution = factory.resolution(step.value, utcnow() + dt.timedelta(seconds=args.resolve_delay))
                heapq.heappush(due, (time.monotonic() + args.resolve_delay, i, resolution))
        elif step.kind == "malformed":
            pub.publish_raw(pub.topics.submitted, step.key, step.value, wait=False)
        else:
            pub.publish_resolution(step.value, wait=False)
        counts[step.kind] += 1
        if step.kind != "early_resolution":
            bar.update(1)
        send_due(time.monotonic())
    bar.close()
    submitted_elapsed = time.monotonic() - start
    if due:
        wait = max(0.0, max(d[0] for d in due) - time.monotonic())
        if not args.quiet:
            print(f"waiting {wait:.1f} s for {len(due)} delayed resolutions", file=sys.stderr)
        send_due(time.monotonic() + wait)
    confirmed = pub.flush()
    sent = args.count
    rate = sent / submitted_elapsed if submitted_elapsed > 0 else float("inf")
    summary = {"submissions": sent, "confirmed_events": confirmed, **dict(counts),
               "elapsed_s": round(submitted_elapsed, 3), "achieved_rate_per_s": round(rate, 1),
               "target_rate_per_s": args.rate or "max"}
    if args.json:
        print(json.dumps(summary))
    else:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"generate: {sent} submissions in {submitted_elapsed:.2f} s = {rate:,.0f}/s achieved "
              f"(target {args.rate or 'max'}/s); {parts}; {confirmed} events confirmed by Kafka")
    return 0


def cmd_feed(args: argparse.Namespace, settings: Settings) -> int:
    """Print what the portal (status) or the registry (corrections) receives, one JSON object a
    line; a value that does not read is reported on stderr and the rest goes on."""
    from producers.feeds import corrections_feed, status_feed

    opened = status_feed if args.command == "status" else corrections_feed
    shown = 0
    with opened(settings, group_id=args.group, from_beginning=not args.new) as feed:
        for item in feed.read(follow=args.follow, timeout_s=args.timeout):
            if item.event is None:
                print(f"{args.command}: partition {item.partition} offset {item.offset}: {item.error}",
                      file=sys.stderr)
                continue
            if args.complaint and item.event.complaint_id not in args.complaint:
                continue
            print(item.event.model_dump_json(exclude_none=True), flush=True)
            shown += 1
        feed.commit()
    if not args.follow:
        print(f"{args.command}: {shown} events", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m producers", description="Publish complaint events to Kafka")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("submit", help="submit complaints from a JSON file (object, array or JSON Lines)")
    s.add_argument("file", nargs="?", default="-", help="path, or - for stdin (default)")
    s.set_defaults(func=cmd_submit)

    r = sub.add_parser("resolve", help="record the result of a complaint's review")
    r.add_argument("complaint_id")
    r.add_argument("--outcome", choices=["updated", "rejected", "duplicate", "referred"], default="updated")
    r.add_argument("--level", choices=["site", "province", "district", "commune", "national"], required=True)
    r.add_argument("--unit", required=True, help="unit code of the office or site that resolved it")
    r.add_argument("--note", help="internal: never leaves the offices")
    r.add_argument("--response", help="for the citizen: what was found and done (at most 2,000 characters)")
    r.add_argument("--correction", action="append", type=correction, metavar="ACTION:DOSE[:VACCINE:DATE[:LOT]]",
                   help="a change to the citizen's record (outcome updated only; repeatable): "
                        "add:2:Comirnaty:2021-10-01, replace:1:Vero Cell:2021-08-02:L123, remove:3")
    r.add_argument("--at", help="resolved_at, ISO 8601 with offset (default: now)")
    r.add_argument("--event-id")
    r.set_defaults(func=cmd_resolve)

    g = sub.add_parser("grant", help="the provincial DoH gives a district or commune unit an account")
    g.add_argument("unit_code", help="3-digit district or 5-digit commune GSO code")
    g.add_argument("--by", help="granted_by (default: the province code)")
    g.add_argument("--at", help="granted_at (default: now)")
    g.set_defaults(func=cmd_grant)

    v = sub.add_parser("revoke", help="revoke a unit's delegation (a tombstone on the compacted topic)")
    v.add_argument("unit_code")
    v.set_defaults(func=cmd_revoke)

    gen = sub.add_parser("generate", help="a realistic load of complaints")
    gen.add_argument("--count", type=int, default=1000, help="submissions to send (default 1000)")
    gen.add_argument("--rate", type=float, default=0, help="submissions per second; 0 = as fast as possible")
    gen.add_argument("--resolve-share", type=float, default=0.0, help="share of complaints resolved later")
    gen.add_argument("--resolve-delay", type=float, default=2.0, help="seconds before those resolutions")
    gen.add_argument("--retry-share", type=float, default=0.03)
    gen.add_argument("--malformed-share", type=float, default=0.01)
    gen.add_argument("--early-resolution-share", type=float, default=0.02)
    gen.add_argument("--spread-hours", type=float, default=24.0, help="recorded_at spread before now")
    gen.add_argument("--seed", type=int)
    gen.add_argument("--id-prefix", default="C")
    gen.add_argument("--old-addresses", type=float, default=0.0, metavar="SHARE",
                     help="share of addresses of the 2021 lists (old provinces, districts, communes) under the "
                          "2025 map; default 0: addresses of the map in force")
    gen.add_argument("--quiet", action="store_true")
    gen.add_argument("--json", action="store_true", help="print the summary as JSON")
    gen.set_defaults(func=cmd_generate)
    for name, who, text in (("status", "portal", "what the portal tells citizens: each complaint's status changes"),
                            ("corrections", "registry", "what the immunization registry applies: record corrections")):
        f = sub.add_parser(name, help=f"{text} (as the {who} principal)")
        f.add_argument("--complaint", action="append", metavar="ID", help="only this complaint's (repeatable)")
        f.add_argument("--follow", action="store_true", help="keep reading what comes (default: stop at the end)")
        f.add_argument("--group", help=f"a consumer group (its name starts with {who}): resume where it stopped")
        f.add_argument("--new", action="store_true", help="without --group: only what comes from now on")
        f.add_argument("--timeout", type=float, help="stop after this many seconds")
        f.set_defaults(func=cmd_feed)
    return p


# The Kafka identity each command uses when KAFKA_CLIENT_PROPERTIES names no file: the portal
# submits; a result or a delegation is written by the principal the broker lets write it (the
# resolver's or the unit's province's office, the site system, triage): role_for.
ROLES = {"submit": "portal", "generate": "portal"}


def role_for(args: argparse.Namespace, admin_map: str) -> str:
    units = load(admin_map)
    if args.command == "resolve":
        if args.level == "site":
            return "site-system"
        if args.level == "national":
            return "triage"
        return f"office-{units.province_of(args.level, args.unit) or args.unit}"
    if args.command in ("grant", "revoke"):
        code = args.unit_code
        return f"office-{units.province_of('commune' if len(code) == 5 else 'district', code) or '??'}"
    return ROLES.get(args.command, "portal")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env()
    if args.func is cmd_feed:
        try:
            with reported("producers", settings):
                return cmd_feed(args, settings)
        except LookupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    try:
        with reported("producers", settings), \
                ComplaintPublisher(settings, role=role_for(args, settings.admin_map),
                                   bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS) as pub:
            return args.func(args, pub)
    except InvalidEvent as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (PublishError, json.JSONDecodeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
