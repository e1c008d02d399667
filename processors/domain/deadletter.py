"""Dead letters: whatever cannot be read as a complaint, kept whole for correction and replay."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import NamedTuple

from schemas.models import DeadLetter


class Source(NamedTuple):
    """Where an event was read: enough to put a corrected copy back (a NamedTuple: the
    router makes one per complaint)."""

    topic: str
    partition: int
    offset: int


class Unreadable(Exception):
    """An event that is not a valid complaint; `error` is its machine-readable kind."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail


def encode_raw(raw: bytes | None) -> tuple[str, str]:
    """As text where the bytes are UTF-8 and stay compact in JSON; else base64, which never
    grows them by more than 4/3 (control characters escaped in JSON take 6 bytes each)."""
    if raw is None:
        return "", "utf-8"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
    if len(json.dumps(text, ensure_ascii=False)) > len(raw) * 4 // 3 + 8:
        return base64.b64encode(raw).decode("ascii"), "base64"
    return text, "utf-8"


def dead_letter(problem: Unreadable, source: Source, key: bytes | None, raw: bytes | None,
                now: dt.datetime) -> DeadLetter:
    text, encoding = encode_raw(raw)
    key_text = None if key is None else key.decode("utf-8", "replace")
    return DeadLetter(error=problem.error, detail=problem.detail[:10000], source_topic=source.topic,
                      partition=source.partition, offset=source.offset, key=key_text, raw=text,
                      raw_encoding=encoding, failed_at=now)


def dumps(letter: DeadLetter) -> bytes:
    return json.dumps(letter.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")
