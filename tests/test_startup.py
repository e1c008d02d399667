"""The worker's start-up checks tell "not ready yet" from "wrong" (processors/engine/startup.py)."""

import pytest

from processors.engine.startup import CannotStart, check_partitions
from schemas.settings import Settings

SETTINGS = Settings(partitions=6)
KEYED = [SETTINGS.topics.submitted, *SETTINGS.topics.resolution_inputs(), *SETTINGS.topics.routed_outputs(),
         SETTINGS.topics.escalations, SETTINGS.topics.verdicts, SETTINGS.topics.status]


class Metadata:
    """An admin client whose metadata settles after a few answers, as the broker's does right
    after topics are created: first missing, then listed with no partitions, then whole."""

    def __init__(self, *answers):
        self.answers = list(answers)

    def describe_topics(self, names):
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [answer(name) for name in names]


def missing(name):
    return {"name": name, "error_code": 3, "partitions": []}


def empty(name):
    return {"name": name, "error_code": 0, "partitions": []}


def whole(name, n=6):
    return {"name": name, "error_code": 0, "partitions": [{"partition": p} for p in range(n)]}


def test_topics_just_created_are_waited_for():
    naps = []
    check_partitions(Metadata(missing, empty, empty, whole), SETTINGS, sleep=naps.append)
    assert len(naps) == 3


def test_a_real_mismatch_is_refused_at_once_with_a_short_reason():
    naps = []
    with pytest.raises(CannotStart) as refused:
        check_partitions(Metadata(lambda name: whole(name, 3)), SETTINGS, sleep=naps.append)
    assert naps == [] and "TOPIC_PARTITIONS is 6 but complaints.submitted has 3" in str(refused.value)
    assert f"and {len(KEYED) - 3} more" in str(refused.value)


def test_topics_that_never_appear_are_refused_after_the_wait():
    with pytest.raises(CannotStart, match="run python -m processors topics"):
        check_partitions(Metadata(missing), SETTINGS, settle_s=0.05, sleep=lambda s: None)
