"""What the domain's handlers see of whatever runs them: the input, and a context.

A handler is called with one input record and a `Context` bound to the shard (the partition)
the record was read from; it reads and writes the shard's tables, keeps what it needs in
memory for the shard, and sends records. It never sees partition numbers, changelogs or the
partitioner: the engine (processors/engine/) records the changelog writes and puts the records
in the shard's transaction; the in-memory driver (processors/testing/) keeps them in lists;
both bind the context with processors/shards.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol, TypeVar

T = TypeVar("T")


class Incoming(NamedTuple):
    """One input record, `timestamp` in seconds. Its partition and offset say where it was
    read (a dead letter names them, for replay); nothing is keyed by them. (A NamedTuple: one
    is built per record, and a frozen dataclass costs several times as much.)"""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None


class Record(NamedTuple):
    """A record to send. `copartitioned`: keyed by complaint_id like the input, it goes to the
    shard the input came from (the default partitioner would pick the same one); else the
    producer's partitioner places it by key."""

    topic: str
    key: bytes | None
    value: bytes | None
    copartitioned: bool = False


class Table(Protocol):
    """A table of the shard: JSON-able values by string key."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...

    def items(self) -> Iterator[tuple[str, Any]]: ...


class Shard(NamedTuple):
    """Which shard out of how many: the daily digest counts the parts it waits for."""

    index: int
    count: int


class Context(Protocol):
    now: dt.datetime
    shard: Shard

    def table(self, name: str) -> Table:
        """complaints, marks or digests, of this shard."""

    def send(self, record: Record) -> None: ...

    def owns(self, key: str) -> bool:
        """A record keyed `key` belongs to this shard (else it is put back keyed right)."""

    def local(self, name: str, factory: Callable[[], T]) -> T:
        """In-memory state of this shard, made by `factory` the first time (a factory that
        returns None only asks); the engine drops it whenever the shard may have changed
        elsewhere (a rebalance), to be rebuilt from the tables."""
