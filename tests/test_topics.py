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
