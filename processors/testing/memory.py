"""Tables as dictionaries, for the in-memory driver: what FaustStore does, without RocksDB."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

encode = orjson.dumps  # as processors/engine/faust_store.py encodes (Faust's untyped tables: JSON)
decode = orjson.loads


class Sent(NamedTuple):
    """A record the driver saw sent: an output (partition None: the producer's partitioner
    places it), or a table write's changelog record."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None


class MemoryStore:
    """Dictionaries per partition, with the changelog records a FaustStore would send."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.partitions: dict[int, dict[str, Any]] = {}

    def _data(self, partition: int) -> dict[str, Any]:
        return self.partitions.setdefault(partition, {})

    def get(self, key: str, partition: int) -> Any:
        return self._data(partition).get(key)

    def set(self, key: str, value: Any, partition: int) -> Sent:
        if value is None:
            return self.delete(key, partition)
        encoded = encode(value)
        self._data(partition)[key] = decode(encoded)  # kept as a read would find it: no shared objects
        return Sent(f"{self.name}-changelog", encode(key), encoded, partition)

    def delete(self, key: str, partition: int) -> Sent:
        self._data(partition).pop(key, None)
        return Sent(f"{self.name}-changelog", encode(key), None, partition)

    def items(self, partition: int) -> Iterator[tuple[str, Any]]:
        return iter(sorted(self._data(partition).items()))
