"""Fuzzed submissions for the chaos run: hypothesis draws payloads near and far from valid."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures import complaint

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                max_size=4), max_leaves=12)
FIELDS = ["schema_version", "event_id", "complaint_id", "recorded_at", "citizen", "category", "description",
          "location", "site", "doses"]


@st.composite
def payload(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "mutated", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    c = complaint(draw(st.from_regex(r"\AF[A-Za-z0-9]{1,20}\Z")))
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(FIELDS))
        if draw(st.booleans()):
            c.pop(field, None)
        else:
            c[field] = draw(JSON)
    return json.dumps(c).encode()


def fuzzed_payloads(n: int) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []

    @settings(max_examples=n, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(payload())
    def collect(raw: bytes) -> None:
        out.append((f"fuzz-{len(out)}", raw))

    collect()
    return out[:n]
