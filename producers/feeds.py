"""Reading what the worker tells beyond the offices (contract, "Closing the loop"): the status
feed a portal backend turns into messages to the citizen, and the corrections the immunization
registry applies to certificates. read_committed consumers on kafka-python.

    with status_feed(group_id="portal-notify") as feed:     # the portal principal
        for item in feed.read(follow=True):
            notify(item.event)                              # a ComplaintStatusChanged
            feed.commit()                                   # resume after it next time

A value that does not read as its model is yielded with `error` set (never skipped silently).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Generic, NamedTuple, TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import AuthorizationError
from pydantic import BaseModel, ValidationError

from schemas.models import ComplaintStatusChanged, RecordCorrection, describe_errors
from schemas.reach import BOOTSTRAP_TIMEOUT_MS
from schemas.settings import Settings

M = TypeVar("M", bound=BaseModel)


class FeedItem(NamedTuple, Generic[M]):
    key: str | None
    event: M | None  # None when the value does not read as the feed's model: see error
    error: str | None
    partition: int
    offset: int


class Feed(Generic[M]):
    """One topic read as committed. With `group_id` (under the principal's own name: `portal...`,
    `registry...`) it resumes where commit() left it; without one it reads from the beginning
    (or, `from_beginning=False`, only what comes next)."""

    def __init__(self, topic: str, model: type[M], role: str, settings: Settings | None = None,
                 group_id: str | None = None, from_beginning: bool = True) -> None:
        settings = settings or Settings.from_env()
        self.model = model
        self.group_id = group_id
        self.consumer = KafkaConsumer(**settings.kafka_python(role), group_id=group_id,
                                      bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS, isolation_level="read_committed",
                                      enable_auto_commit=False,
                                      auto_offset_reset="earliest" if from_beginning else "latest")
        try:
            partitions = self.consumer.partitions_for_topic(topic)
        except AuthorizationError:
            partitions = None
        if not partitions:
            self.consumer.close()
            raise LookupError(f"{topic} cannot be read: no such topic, or this client's principal may not read "
                              f"it (the {role} principal may)")
        self.partitions = [TopicPartition(topic, p) for p in sorted(partitions)]
        if group_id:
            self.consumer.subscribe([topic])
        else:
            self.consumer.assign(self.partitions)
            if from_beginning:
                self.consumer.seek_to_beginning(*self.partitions)
            else:
                self.consumer.seek_to_end(*self.partitions)

    def read(self, follow: bool = False, timeout_s: float | None = None) -> Iterator[FeedItem[M]]:
        """What the topic holds; without `follow`, up to its end as of this call."""
        end = None if follow else self.consumer.end_offsets(self.partitions)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while deadline is None or time.monotonic() < deadline:
            for batch in self.consumer.poll(timeout_ms=500).values():
                for record in batch:
                    yield self._item(record)
            if end is not None and self._caught_up(end):
                return

    def _caught_up(self, end: dict[TopicPartition, int]) -> bool:
        assigned = self.consumer.assignment()
        if len(assigned) < len(self.partitions):  # a group member that shares the topic sees its part
            return bool(assigned) and all(self.consumer.position(tp) >= end[tp] for tp in assigned)
        return all(self.consumer.position(tp) >= end[tp] for tp in self.partitions)

    def _item(self, record) -> FeedItem[M]:
        key = None if record.key is None else record.key.decode("utf-8", "replace")
        try:
            return FeedItem(key, self.model.model_validate_json(record.value or b""), None, record.partition,
                            record.offset)
        except ValidationError as exc:
            return FeedItem(key, None, f"not a {self.model.__name__}: {describe_errors(exc)}", record.partition,
                            record.offset)

    def commit(self) -> None:
        """The group resumes after what was read (with a group_id only)."""
        if self.group_id:
            self.consumer.commit()

    def close(self) -> None:
        self.consumer.close()

    def __enter__(self) -> Feed[M]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def status_feed(settings: Settings | None = None, **options) -> Feed[ComplaintStatusChanged]:
    """complaints.status, as the portal principal reads it."""
    settings = settings or Settings.from_env()
    return Feed(settings.topics.status, ComplaintStatusChanged, "portal", settings, **options)


def corrections_feed(settings: Settings | None = None, **options) -> Feed[RecordCorrection]:
    """complaints.record-corrections, as the registry principal reads it."""
    settings = settings or Settings.from_env()
    return Feed(settings.topics.record_corrections, RecordCorrection, "registry", settings, **options)
