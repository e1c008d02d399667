import datetime as dt

from processors.domain.digest import PartBuilder, merge
from processors.domain.state import ComplaintState
from schemas.admin_units import load

UNITS = load("2025")

UTC = dt.timezone.utc


def parts(states, now: dt.datetime, max_items: int, units) -> dict[str, dict]:
    """Each province's part of one partition, as the digest tick builds it."""
    builder = PartBuilder(now, max_items, units)
    for cid, state in states:
        builder.add(cid, state)
    return builder.build()
NOW = dt.datetime(2021, 11, 10, 0, 0, tzinfo=UTC)  # 07:00 ICT


def rec(hours_ago: float, province="79", handler=("province", "79"), resolved=False, route="jurisdiction"):
    recorded = NOW - dt.timedelta(hours=hours_ago)
    r = {"route": route, "province_code": province, "handler": {"level": handler[0], "unit_code": handler[1]},
         "recorded_at": recorded.isoformat(), "deadline": (recorded + dt.timedelta(hours=48)).isoformat()}
    if resolved:
        r["resolved_at"] = NOW.isoformat()
    return ComplaintState.from_value(r)


def test_parts_then_merge_give_open_counts_oldest_and_due_within_24h():
    p0 = parts([("A", rec(30)), ("B", rec(10, handler=("district", "760"))), ("C", rec(40, resolved=True)),
                ("T", rec(30, province=None, route="triage", handler=("national", "VN")))], NOW, max_items=10, units=UNITS)
    p1 = parts([("D", rec(47)), ("E", rec(50)), ("F", rec(1, province="01", handler=("province", "01")))],
               NOW, max_items=10, units=UNITS)
    assert len(p0) == 34 and p0["01"]["open_by_handler"] == {}
    digest = merge("79", dt.date(2021, 11, 10), [p0["79"], p1["79"]], NOW, max_items=10)
    assert digest.open_total == 4  # A, B, D, E; C is resolved
    assert [(h.handler.level, h.handler.unit_code, h.open) for h in digest.open_by_handler] == \
        [("province", "79", 3), ("district", "760", 1)]
    assert digest.oldest.complaint_id == "E"
    # due within 24 h of NOW: D (1 h left) and A (18 h left); E is already overdue, B has 38 h.
    assert [i.complaint_id for i in digest.due_within_24h] == ["D", "A"]
    assert digest.due_within_24h_total == 2
    assert digest.event_id == "digest-79-2021-11-10"


def test_the_due_list_keeps_the_earliest_deadlines_within_its_cap():
    records = [(f"C{i:02d}", rec(25 + i * 0.5)) for i in range(20)]  # all due within 24 h
    part = parts(records, NOW, max_items=5, units=UNITS)["79"]
    assert part["due_total"] == 20
    assert [i["complaint_id"] for i in part["due"]] == ["C19", "C18", "C17", "C16", "C15"]


def part_body(partition: int, part: dict, partitions: int = 2) -> dict:
    return {"digest_date": "2021-11-10", "partition": partition, "partitions": partitions,
            "generated_at": NOW.isoformat(), "part": part}


def test_a_province_digest_goes_out_once_when_every_partition_part_is_in():
    from processors.domain.digest import add_part

    p0 = parts([("A", rec(30))], NOW, max_items=10, units=UNITS)["79"]
    p1 = parts([("D", rec(47))], NOW, max_items=10, units=UNITS)["79"]
    entry, digest = add_part(None, "79", part_body(0, p0), NOW, 10)
    assert digest is None and set(entry["parts"]) == {"0"}
    again, none = add_part(entry, "79", part_body(0, p0), NOW, 10)  # a part seen twice (a replay)
    assert again is None and none is None
    done, digest = add_part(entry, "79", part_body(1, p1), NOW, 10)
    assert digest is not None and digest.open_total == 2 and done == {"parts": {}, "emitted": True}
    late, nothing = add_part(done, "79", part_body(1, p1), NOW, 10)  # after the digest went out
    assert late is None and nothing is None
