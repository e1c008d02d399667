"""Sends that belong to the transaction of the partition being processed.

Why this exists: with processing_guarantee="exactly_once", Faust commits a source
partition's offsets in the transaction "{app_id}-{group}-{partition}" of that *source*
partition (faust/transport/consumer.py, TransactionManager.commit). But
TransactionManager.send picks the transactional id from the *destination* topic and the
partition the key hashes to there; for a topic the app does not consume,
assignor.group_for_topic() has no entry at all. Output events therefore land in another
transaction than the offsets that produced them, or fail (faust-streaming issues #177,
#517): a kill -9 between the two commits yields duplicates.

The fix: send each output with the transactional producer of the source partition that
produced it, so the output, the table's changelog writes (Faust already writes those in
the source partition's transaction) and the consumed offset commit or abort together.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import TP


class TransactionalSender:
    def __init__(self, app: faust.App) -> None:
        self.app = app

    def transactional_id(self, source: TP) -> str | None:
        if not self.app.in_transaction:
            return None
        group = self.app.assignor.group_for_topic(source.topic)
        # The same format Faust's TransactionManager commits offsets with.
        return f"{self.app.conf.id}-{group}-{source.partition}"

    async def send(self, source: TP, topic: str, key: bytes | None, value: bytes | None,
                   headers: Any = None) -> Any:
        """Queue one record in the source partition's transaction; returns its future."""
        return await self.app.producer.send(
            topic, key, value, partition=None, timestamp=None, headers=headers,
            transactional_id=self.transactional_id(source),
        )
