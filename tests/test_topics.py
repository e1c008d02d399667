"""Which topics a deployment owns, for `python -m processors topics --delete`."""

from __future__ import annotations

from dataclasses import replace

import pytest

from processors.ops.topics import NotIsolated, delete_topics, owned_by
from schemas.settings import Settings


def settings(prefix: str, app_id: str | None = None) -> Settings:
    return replace(Settings.from_env(), topic_prefix=prefix, faust_app_id=app_id or f"{prefix}complaints-router")


def test_a_prefixed_deployment_owns_its_topics_and_its_faust_apps():
    s = settings("bench-1.")
    assert owned_by("bench-1.complaints.submitted", s)
    assert owned_by("bench-1.complaints-router-complaints-changelog", s)  # Faust's own, named after the app id
    assert not owned_by("bench-2.complaints.submitted", s)
    assert not owned_by("complaints.submitted", s)
    assert not owned_by("bench-10.complaints-router-complaints-changelog", s)


def test_an_unprefixed_deployment_owns_nothing():
    s = settings("", app_id="complaints-router")
    assert not owned_by("complaints.submitted", s)
    assert not owned_by("complaints-router-complaints-changelog", s)


def test_the_app_id_derives_from_the_prefix(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TOPIC_PREFIX", "staging.")
    monkeypatch.delenv("FAUST_APP_ID", raising=False)
    assert Settings.from_env().faust_app_id == "staging.complaints-router"
    monkeypatch.setenv("TOPIC_PREFIX", "")
    assert Settings.from_env().faust_app_id == "complaints-router"


def test_delete_refuses_an_app_id_outside_the_prefix():
    # The unprefixed deployment's changelogs ("complaints-router-...") must never be touched
    # from a prefixed one: refused before any broker is asked.
    with pytest.raises(NotIsolated, match="not under TOPIC_PREFIX"):
        delete_topics(settings("x.", app_id="complaints-router"))


def test_replication_is_sized_to_the_cluster_and_a_factor_it_cannot_hold_is_refused():
    from processors.ops.topics import desired_topics
    from schemas.settings import ReplicationError

    sized = Settings(replication_factor=0)
    assert [sized.replicas(n) for n in (1, 2, 3, 5)] == [1, 2, 3, 3]
    one = desired_topics(sized, brokers=1)
    assert {t.replication_factor for t in one} == {1}
    assert not any("min.insync.replicas" in t.topic_configs for t in one)  # one broker: as before
    three = desired_topics(sized, brokers=3)
    assert {t.replication_factor for t in three} == {3}
    assert {t.topic_configs["min.insync.replicas"] for t in three} == {"2"}
    dead = next(t for t in three if t.name == sized.topics.dead_letter)
    assert dead.topic_configs["max.message.bytes"] and dead.topic_configs["min.insync.replicas"] == "2"
    assert Settings(replication_factor=2).replicas(3) == 2
    with pytest.raises(ReplicationError, match="TOPIC_REPLICATION_FACTOR is 3 but the cluster at .* has 1 broker:"):
        desired_topics(Settings(replication_factor=3), brokers=1)
