"""Errors in a host application: unexpected exceptions reach the framework when asked to, and
typed errors raised in a host's own views answer exactly like onboardkit's API."""

from __future__ import annotations

import os
from collections.abc import Iterable

import pytest

from onboardkit import hookimpl
from onboardkit.errors import Issue, ValidationError
from onboardkit.onboarding import AccountNotFound
from onboardkit.onboarding.errors import VALUE_REQUIRED
from onboardkit.ratelimits import RateLimited
from onboardkit.sqlstore import SqlStore
from onboardkit.testing import make_plugins
from onboardkit.web import error_response, status_for
from web_helpers import error_of, site


class BrokenTemplates:
    """A plugin with a bug: every page render fails unexpectedly."""

    @hookimpl
    def onboardkit_template_folders(self, tenant: str) -> Iterable[str | os.PathLike[str]]:
        raise RuntimeError("a bug in a plugin")


def test_an_unexpected_error_is_onboardkits_500_page_by_default(memory_store: SqlStore) -> None:
    with site(memory_store, plugins=make_plugins(BrokenTemplates())) as web:
        answer = web.browser(headers={"accept-language": "de"}).get("/pim/register")
        text = web.text("web.internal", "de")
    # The error page cannot use the broken templates either: a plain page says it.
    assert answer.status == 500
    assert answer.media_type == "text/html"
    assert text in answer.text


def test_an_unexpected_error_reaches_the_framework_when_asked(memory_store: SqlStore) -> None:
    plugins = make_plugins(BrokenTemplates())
    with (
        site(memory_store, plugins=plugins, propagate_exceptions=True) as web,
        pytest.raises(RuntimeError, match="a bug in a plugin"),
    ):
        web.browser().get("/pim/register")


def test_typed_errors_are_still_answered_when_exceptions_propagate(
    memory_store: SqlStore,
) -> None:
    with site(memory_store, propagate_exceptions=True) as web:
        answer = web.browser().post_json("/pim/api/login", {"email": "x", "password": "y"})
        missing = web.browser().get("/nowhere/login")
    assert answer.status == 401
    assert error_of(answer)["code"] == "login.bad_credentials"
    assert missing.status == 404


def test_error_response_answers_like_the_api() -> None:
    error = ValidationError([Issue("fields.customer_number", VALUE_REQUIRED)])
    answer = error_response(error, locale="de")
    assert answer.status == status_for(error) == 422
    assert answer.media_type == "application/json"
    assert answer.header("cache-control") == "no-store"
    body = error_of(answer)
    assert body["code"] == error.code
    assert body["message"] == error.localized("de")
    assert body["issues"][0]["path"] == "fields.customer_number"


def test_error_response_of_a_rate_limit_says_when_to_retry() -> None:
    answer = error_response(RateLimited(retry_after=42))
    assert answer.status == 429
    assert answer.header("retry-after") == "42"


def test_error_response_of_a_missing_account_is_not_found() -> None:
    answer = error_response(AccountNotFound(), locale="en")
    assert answer.status == 404
    assert error_of(answer)["message"] == AccountNotFound().localized("en")
