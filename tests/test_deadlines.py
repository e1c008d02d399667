"""The SLA clock's in-memory deadline index of a shard."""

from processors.domain.deadlines import Deadlines


def test_due_entries_leave_earliest_first_and_at_most_the_limit():
    index = Deadlines()
    for second, cid in ((30, "C"), (10, "A"), (20, "B"), (40, "D")):
        index.add(second, cid, 1)
    assert index.pop_due(35, limit=2) == [("A", 1), ("B", 1)]
    assert index.pop_due(35, limit=10) == [("C", 1)]
    assert index.earliest() == 40 and len(index) == 1


def test_a_rebuild_starts_empty_and_unbuilt():
    """A rebuild clears what was indexed (the scan finds every state again) and the clock
    fires nothing until the scan has finished and set it built."""
    index = Deadlines()
    index.add(10, "A", 1)
    index.built = True
    index.start()
    assert len(index) == 0 and not index.built and index.earliest() is None
    index.add(10, "A", 1)  # a write during the scan is indexed
    assert index.pop_due(100, 10) == [("A", 1)]
