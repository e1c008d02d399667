"""An office system's inbox: its province's jurisdiction topic, read as the office.

    with Inbox("79", unit="760") as inbox:
        inbox.run(handle)          # handle(complaint: RoutedComplaint) -> None

Reads read_committed (only what the router committed), keeps the complaints the unit handles
(all of the province's when `unit` is None), and commits a record's offset only after the
handler returned for it: a handler that raises, or a process that dies, gets the record
again on the next start (at least once; `complaint_id` identifies repeats).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from pydantic import ValidationError

from schemas.identities import office
from schemas.models import RoutedComplaint
from schemas.settings import Settings

log = logging.getLogger(__name__)


class Inbox:
    def __init__(self, province: str, unit: str | None = None, *, settings: Settings | None = None,
                 group_id: str | None = None, poll_timeout_s: float = 1.0) -> None:
        """`group_id` defaults to "office-PP.inbox[.UNIT]": under the office's own prefix, as its
        ACLs allow, and one per unit so each unit's system keeps its own place."""
        self.settings = settings or Settings.from_env()
        self.province = province
        self.unit = unit
        self.topic = self.settings.topics.jurisdiction(province)
        self.group_id = group_id or f"{office(province)}.inbox" + (f".{unit}" if unit else "")
        self.poll_timeout_ms = int(poll_timeout_s * 1000)
        self.skipped = 0      # records of other units
        self.unreadable = 0   # records that are not a routed complaint (logged by offset only)
        self._consumer = KafkaConsumer(
            self.topic, group_id=self.group_id, isolation_level="read_committed", enable_auto_commit=False,
            auto_offset_reset="earliest", **self.settings.kafka_python(office(province)))

    def mine(self, complaint: RoutedComplaint) -> bool:
        return self.unit is None or complaint.routing.handler.unit_code == self.unit

    def batches(self) -> Iterator[list[tuple[TopicPartition, int, RoutedComplaint | None]]]:
        """Each poll's records in order: (partition, offset, the complaint or None if not kept)."""
        while True:
            polled = self._consumer.poll(timeout_ms=self.poll_timeout_ms)
            batch = []
            for tp, records in polled.items():
                for record in records:
                    try:
                        complaint = RoutedComplaint.model_validate_json(record.value)
                    except (ValidationError, TypeError):
                        self.unreadable += 1
                        log.warning("inbox: %s[%d]@%d is not a routed complaint; skipped",
                                    tp.topic, tp.partition, record.offset)
                        complaint = None
                    if complaint is not None and not self.mine(complaint):
                        self.skipped += 1
                        complaint = None
                    batch.append((tp, record.offset, complaint))
            yield batch

    def run(self, handler: Callable[[RoutedComplaint], None], *, max_polls: int | None = None,
            until: Callable[[], bool] | None = None) -> int:
        """Hand each of the unit's complaints to `handler`; returns how many it took."""
        handled = polls = 0
        for batch in self.batches():
            done: dict[TopicPartition, OffsetAndMetadata] = {}
            try:
                for tp, offset, complaint in batch:
                    if complaint is not None:
                        handler(complaint)
                        handled += 1
                    done[tp] = OffsetAndMetadata(offset + 1, "", -1)
            finally:  # what the handler finished is not handed over again, even if it raised
                if done:
                    self._consumer.commit(done)
            polls += 1
            if (max_polls is not None and polls >= max_polls) or (until is not None and until()):
                return handled
        return handled

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> "Inbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
