"""Fuzzed inputs for the chaos run: hypothesis draws payloads near and far from valid.

Full Unicode (NUL and other controls, lone surrogates, right-to-left marks, emoji,
combining marks), payloads near the broker's 1 MiB limit, deep nesting, wrong types, huge
numbers and duplicate JSON keys, on complaints.submitted and complaints.resolved.
"""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.generator import ComplaintFactory, GeneratorConfig

SPECIAL = ["\u0000", "\u0007", "\u001b[31m", "\ud800", "\udfff", "\u202e", "\u200f", "\U0001f489", "e\u0301",
           "\ufeff", "\uffff", "\t\r\n", "Nguyễn", "\\u0000"]
TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=40) | st.sampled_from(SPECIAL)
NUMBER = st.integers(-(10**30), 10**30) | st.sampled_from([2**63, -(2**63) - 1, 10**400]) | st.floats(
    allow_nan=False, allow_infinity=False)
JSON = st.recursive(st.none() | st.booleans() | NUMBER | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=12)
COMPLAINT_FIELDS = ["schema_version", "event_id", "complaint_id", "recorded_at", "citizen", "category",
                    "description", "location", "site", "doses", "citizen.full_name", "citizen.phone",
                    "location.province_code", "location.district_code", "doses.0.dose_number"]
RESOLUTION_FIELDS = ["event_id", "complaint_id", "resolved_at", "resolved_by", "resolved_by.unit_code",
                     "resolved_by.level", "outcome", "note"]
FACTORY = ComplaintFactory(GeneratorConfig(seed=5, id_prefix="F"))


def dumps(value) -> bytes:
    """JSON as a careless client might write it: lone surrogates escaped, big ints as they are."""
    return json.dumps(value, ensure_ascii=True).encode()


def put(doc: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc.get(part) if isinstance(doc, dict) else (doc[int(part)] if isinstance(doc, list) and doc else None)
        if doc is None:
            return
    if isinstance(doc, dict):
        doc[last] = value
    elif isinstance(doc, list) and last.isdigit() and int(last) < len(doc):
        doc[int(last)] = value


@st.composite
def mutated(draw, base: dict, fields: list[str]) -> bytes:
    doc = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(fields))
        if draw(st.booleans()) and "." not in field:
            doc.pop(field, None)
        else:
            put(doc, field, draw(JSON))
    return dumps(doc)


@st.composite
def submission(draw) -> bytes:
    complaint = FACTORY.complaint(dt.datetime.now(dt.timezone.utc))
    complaint["complaint_id"] = draw(st.from_regex(r"\AF[A-Za-z0-9]{1,20}\Z"))
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "mutated", "mutated", "text", "large", "deep",
                                 "duplicate_keys"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return dumps(draw(JSON))
    if kind == "text":  # a valid complaint whose free text is drawn from all of Unicode
        complaint["description"] = draw(TEXT)
        complaint["citizen"]["full_name"] = draw(TEXT)
        return dumps(complaint)
    if kind == "large":  # near the broker's 1 MiB limit; above what the router reads
        size = draw(st.sampled_from([400_000, 524_000, 524_300, 900_000, 1_000_000]))
        complaint["attachment"] = "x" * size
        return dumps(complaint)
    if kind == "deep":
        depth = draw(st.sampled_from([50, 500, 5_000, 50_000]))
        complaint["extra"] = "@@DEEP@@"
        return dumps(complaint).replace(b'"@@DEEP@@"', b"[" * depth + b"]" * depth)
    if kind == "duplicate_keys":
        raw = dumps(complaint)
        return raw[:-1] + b', "complaint_id": ' + dumps(draw(JSON)) + b"}"
    return draw(mutated(complaint, COMPLAINT_FIELDS))


@st.composite
def resolution(draw) -> bytes:
    event = {"schema_version": 1, "event_id": draw(st.from_regex(r"\Afr-[a-z0-9]{1,12}\Z")),
             "complaint_id": draw(st.from_regex(r"\AF[A-Za-z0-9]{1,20}\Z")), "resolved_at": "2021-11-09T09:00:00+07:00",
             "resolved_by": {"level": "province", "unit_code": "79"}, "outcome": "updated"}
    if draw(st.booleans()):
        event["note"] = draw(TEXT)
        return dumps(event)
    return draw(mutated(event, RESOLUTION_FIELDS))


def fuzzed(strategy, n: int) -> list[bytes]:
    out: list[bytes] = []

    @settings(max_examples=n, database=None, derandomize=True, suppress_health_check=list(HealthCheck),
              deadline=None)
    @given(strategy)
    def collect(raw: bytes) -> None:
        out.append(raw)

    collect()
    return out[:n]


def fuzzed_payloads(n: int) -> list[tuple[str, str, bytes]]:
    """(topic kind, key, value): about 4 submissions to 1 resolution."""
    subs = fuzzed(submission(), n - n // 5)
    res = fuzzed(resolution(), n // 5)
    return ([("submitted", f"fuzz-{i}", raw) for i, raw in enumerate(subs)]
            + [("resolved", f"fuzz-r-{i}", raw) for i, raw in enumerate(res)])
