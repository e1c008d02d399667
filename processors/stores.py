"""Key-value state per partition, as the topology's handlers see it.

`Store` is what a handler may do with a table: read, write (returning the changelog record
that must go out in the same transaction), scan a partition or a key range of it. The
worker backs it with a Faust table (`FaustStore`); the broker-free driver and the unit
tests with dictionaries (`MemoryStore`). Keys are strings, values JSON-able.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from typing import Any, Protocol

from processors.eos import Record, TableWriter, in_partition, iter_partition, iter_range, partition_keys


class Store(Protocol):
    def get(self, key: str, partition: int) -> Any: ...

    def set(self, key: str, value: Any, partition: int) -> Record: ...

    def delete(self, key: str, partition: int) -> Record: ...

    def set_local(self, key: str, value: Any, partition: int) -> None:
        """Write the local store only: no changelog record (lost on a restart, by design)."""

    def range(self, partition: int, start: str, end: str) -> list[tuple[str, Any]]:
        """(key, value) with start <= key < end, in key order."""

    def first_key(self, partition: int) -> str | None: ...

    def items(self, partition: int) -> Iterator[tuple[str, Any]]: ...


class FaustStore:
    """A Faust table with a RocksDB store; its changelog records go out with the outputs."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.writer = TableWriter(table)

    def get(self, key: str, partition: int) -> Any:
        with in_partition(partition):
            return self.table.get(key)

    def set(self, key: str, value: Any, partition: int) -> Record:
        with in_partition(partition):
            return self.writer.set(key, value, partition)

    def delete(self, key: str, partition: int) -> Record:
        with in_partition(partition):
            return self.writer.delete(key, partition)

    def set_local(self, key: str, value: Any, partition: int) -> None:
        with in_partition(partition):
            self.table.data[key] = value

    def range(self, partition: int, start: str, end: str) -> list[tuple[str, Any]]:
        return iter_range(self.table, partition, start, end)

    def first_key(self, partition: int) -> str | None:
        return next(partition_keys(self.table, partition), None)

    def items(self, partition: int) -> Iterator[tuple[str, Any]]:
        return iter_partition(self.table, partition)


class MemoryStore:
    """Dictionaries per partition, with the changelog records a FaustStore would send."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.partitions: dict[int, dict[str, Any]] = {}

    def _data(self, partition: int) -> dict[str, Any]:
        return self.partitions.setdefault(partition, {})

    def get(self, key: str, partition: int) -> Any:
        return self._data(partition).get(key)

    def set(self, key: str, value: Any, partition: int) -> Record:
        self._data(partition)[key] = value
        encoded = None if value is None else json.dumps(value, separators=(",", ":")).encode()
        return Record(f"{self.name}-changelog", key.encode(), encoded, partition)

    def delete(self, key: str, partition: int) -> Record:
        self._data(partition).pop(key, None)
        return Record(f"{self.name}-changelog", key.encode(), None, partition)

    def set_local(self, key: str, value: Any, partition: int) -> None:
        self._data(partition)[key] = value

    def range(self, partition: int, start: str, end: str) -> list[tuple[str, Any]]:
        keys = sorted(self._data(partition))
        lo, hi = bisect.bisect_left(keys, start), bisect.bisect_left(keys, end)
        return [(k, self._data(partition)[k]) for k in keys[lo:hi]]

    def first_key(self, partition: int) -> str | None:
        return min(self._data(partition), default=None)

    def items(self, partition: int) -> Iterator[tuple[str, Any]]:
        return iter(sorted(self._data(partition).items()))
