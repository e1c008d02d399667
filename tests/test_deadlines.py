"""The SLA clock's in-memory deadline index."""

from processors.domain.deadlines import DeadlineIndex


def test_due_entries_leave_earliest_first_and_at_most_the_limit():
    index = DeadlineIndex()
    index.start(0)
    for second, cid in ((30, "C"), (10, "A"), (20, "B"), (40, "D")):
        index.add(0, second, cid, 1)
    index.finish(0)
    assert index.pop_due(0, 35, limit=2) == [("A", 1), ("B", 1)]
    assert index.pop_due(0, 35, limit=10) == [("C", 1)]
    assert index.earliest(0) == 40 and len(index) == 1


def test_a_partition_not_being_indexed_ignores_writes_and_is_not_built_until_finished():
    index = DeadlineIndex()
    index.add(3, 10, "A", 1)  # not assigned here, or not rebuilt yet: its scan will find it
    assert len(index) == 0 and not index.is_built(3)
    index.start(3)
    index.add(3, 10, "A", 1)
    assert not index.is_built(3)
    index.finish(3)
    assert index.is_built(3) and index.partitions() == {3}
    index.forget(3)
    assert not index.is_built(3) and index.pop_due(3, 100, 10) == []
