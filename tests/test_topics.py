"""Which topics a deployment owns, for `python -m processors topics --delete`."""

from __future__ import annotations

from dataclasses import replace

from processors.topics import owned_by
from schemas.settings import Settings


def settings(prefix: str, app_id: str = "bench-router-1") -> Settings:
    return replace(Settings.from_env(), topic_prefix=prefix, faust_app_id=app_id)


def test_a_prefixed_deployment_owns_its_topics_and_its_faust_apps():
    s = settings("bench-1.")
    assert owned_by("bench-1.complaints.submitted", s)
    assert owned_by("bench-router-1-complaints-changelog", s)  # Faust's own, named after the app id
    assert not owned_by("bench-2.complaints.submitted", s)
    assert not owned_by("complaints.submitted", s)
    assert not owned_by("bench-router-10-complaints-changelog", s)


def test_an_unprefixed_deployment_owns_nothing():
    s = settings("", app_id="complaints-router")
    assert not owned_by("complaints.submitted", s)
    assert not owned_by("complaints-router-complaints-changelog", s)
