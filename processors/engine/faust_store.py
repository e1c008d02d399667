"""The worker's tables: Faust tables' RocksDB databases, per partition (`FaustStore`, a
processors.shards.PartitionedStore), read and written directly. Keys are strings, values
JSON-able, encoded as Faust's untyped tables do (JSON); the in-memory driver's store
(processors/testing/memory.py) encodes them alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from processors.engine.eos import Outbound

# JSON, as Faust's "json" codec writes keys and values of an untyped table (its recovery
# puts the changelog's bytes into RocksDB as they are: these bytes are what it holds).
# orjson: a table write encodes its value once, in a tenth of the standard library's time.
encode = orjson.dumps
decode = orjson.loads
FAUST_KEYS = b"__faust"  # Faust's own bookkeeping in each database (the persisted offset)


class FaustStore:
    """A Faust table with a RocksDB store, read and written through its per-partition
    databases (rocksdict, raw mode) rather than the table's mapping: Faust's path encodes
    through its codec registry, reads a key twice (contains, then get) and needs a current
    event to pick the partition; it was a fifth of the router's time. The changelog record
    carries the very bytes written, and goes out with the outputs (processors/engine/eos.py)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def db(self, partition: int) -> Any:
        return self.table.data._db_for_partition(partition)  # opens it on first use

    def get(self, key: str, partition: int) -> Any:
        raw = self.db(partition).get(encode(key))
        return None if raw is None else decode(raw)

    def set(self, key: str, value: Any, partition: int) -> Outbound:
        if value is None:
            return self.delete(key, partition)
        k, v = encode(key), encode(value)
        self.db(partition).put(k, v)
        return self.changelog(k, v, partition)

    def delete(self, key: str, partition: int) -> Outbound:
        k = encode(key)
        self.db(partition).delete(k)
        return self.changelog(k, None, partition)

    def changelog(self, key: bytes, value: bytes | None, partition: int) -> Outbound:
        return Outbound(self.table.changelog_topic.get_topic_name(), key, value, partition, store=self.table.data)

    def items(self, partition: int) -> Iterator[tuple[str, Any]]:
        db = self.table.data._dbs.get(partition)
        for key, value in db.items() if db is not None else ():
            if not key.startswith(FAUST_KEYS):
                yield decode(key), decode(value)
