"""Static files: served from the package through the finders, and no warning
about a ``STATIC_ROOT`` nothing was collected into (every demo node's
server.log started with one)."""

from __future__ import annotations

import warnings

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from whitenoise.middleware import WhiteNoiseMiddleware  # type: ignore[import-untyped]

from trm.common.middleware import StaticFilesMiddleware


def app(request: object) -> HttpResponse:
    return HttpResponse("the app", status=404)


@pytest.fixture
def no_collected_root(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"  # not created: as on a node
    settings.WHITENOISE_AUTOREFRESH = False  # as with TRM_DEBUG=0
    return settings.STATIC_ROOT


def test_whitenoise_itself_warns_about_a_missing_static_root(no_collected_root):
    with pytest.warns(UserWarning, match="No directory at"):
        WhiteNoiseMiddleware(app)


def test_a_missing_static_root_is_left_out_and_the_files_still_served(
    no_collected_root,
):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        middleware = StaticFilesMiddleware(app)
    response = middleware(RequestFactory().get("/static/trm/trm.css"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content)  # the package's file


def test_a_collected_static_root_is_served(no_collected_root):
    no_collected_root.mkdir()
    (no_collected_root / "collected.txt").write_text("collected")
    middleware = StaticFilesMiddleware(app)
    response = middleware(RequestFactory().get("/static/collected.txt"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"collected"
