"""`python -m processors replay`: put corrected dead letters back on their source topic.

    python -m processors replay --export letters.jsonl      # every dead letter, one per line
    $EDITOR letters.jsonl                                   # correct "raw" (drop lines to skip)
    python -m processors replay letters.jsonl               # validate, then re-publish

A line still invalid after correction is reported and not sent; nothing else is lost.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from processors.domain.deadletter import Unreadable
from processors.ops.readback import read_committed
from processors.domain.intake import read_complaint, read_delegation, read_resolution
from producers.client import ComplaintPublisher
from schemas.admin_units import load as load_units
from schemas.models import DeadLetter, describe_errors
from schemas.settings import Settings
from schemas.times import utcnow
from schemas.topics import Topics


def export(path: Path, settings: Settings, error: str | None = None) -> int:
    topics = settings.topics
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for record in read_committed([topics.dead_letter], settings):
            letter = json.loads(record.value)
            if error and letter.get("error") != error:
                continue
            out.write(json.dumps(letter, ensure_ascii=False) + "\n")
            count += 1
    return count


def check(letter: DeadLetter, topics: Topics) -> str | None:
    """Why the corrected event would be refused again, or None when it is valid now."""
    raw = letter.original_bytes()
    source = topics.source_of(letter.source_topic)
    now = utcnow()  # the corrected event gets a new record timestamp: judged against now
    try:
        if source == "complaints.submitted":
            read_complaint(raw, now)
        elif source == "complaints.resolved":
            read_resolution(raw, now, load_units(topics.admin_map))
        elif source == "complaints.delegations" and raw:
            read_delegation(letter.key.encode("utf-8") if letter.key is not None else None, raw, load_units(topics.admin_map))
    except Unreadable as problem:
        return f"{problem.error}: {problem.detail}"
    return None


def replay(path: Path, settings: Settings, dry_run: bool = False) -> tuple[int, list[str]]:
    topics = settings.topics
    sent, refused = 0, []
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    with ComplaintPublisher(settings, role="admin") as pub:  # onto any source topic
        for n, line in enumerate(lines, 1):
            try:
                letter = DeadLetter.model_validate_json(line)
            except ValidationError as exc:
                refused.append(f"line {n}: not a dead letter: {describe_errors(exc)}")
                continue
            problem = check(letter, topics)
            if problem:
                refused.append(f"line {n} (key {letter.key}): still invalid: {problem}")
                continue
            if not dry_run:
                pub.publish_raw(letter.source_topic, letter.key, letter.original_bytes())
            sent += 1
    return sent, refused
