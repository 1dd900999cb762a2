"""A single-tenant mount: one tenant's pages and API with no tenant id in the path, the links
in pages and mail leading to them, and every other tenant out of reach."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from onboarding_helpers import SECRET, STRONG, latest_token, registration_form
from onboardkit.accounts import AccountStatus
from onboardkit.errors import ConfigurationError
from onboardkit.sqlstore import SqlStore
from onboardkit.testing import FrozenClock
from onboardkit.web import OnboardingWeb, WebRequest
from onboardkit.web.wsgi import OnboardingWSGI
from web_helpers import REVIEWER, REVIEWER_PASSWORD, Browser, Site, error_of, site, tags
from wsgi_helpers import HttpClient, mounted, serve

ANNA = "anna@example.com"
#: pim's base URL in onboarding_helpers.CONFIG is https://pim.example.com/onboarding.
MOUNT = "/onboarding"


@pytest.fixture
def web(memory_store: SqlStore) -> Iterator[Site]:
    with site(memory_store, FrozenClock(), tenant="pim") as made:
        yield made


@pytest.fixture
def port(web: Site) -> Iterator[int]:
    app = OnboardingWSGI(web.web, root_path=MOUNT)
    with serve(mounted(MOUNT, app)) as found:
        yield found


def _mailed_link(web: Site, email: str, kind: str) -> str:
    text = web.mails(email, kind)[0].text
    found = re.search(r"https://\S+", text)
    assert found is not None
    return found.group(0)


# -- the route table --------------------------------------------------------------------------


def test_the_published_routes_have_no_tenant_id(web: Site, memory_store: SqlStore) -> None:
    paths = {(route.method, route.path): route.name for route in web.web.routes}
    assert all("{tenant}" not in path for _, path in paths)
    assert paths[("GET", "/")] == "tenant_home"
    assert paths[("GET", "/login")] == "login_page"
    assert paths[("POST", "/api/register")] == "api_register"
    assert paths[("POST", "/review/{account_id}/approve")] == "approve"
    with site(memory_store, FrozenClock()) as every:
        assert {r.name for r in web.web.routes} == {r.name for r in every.web.routes}


def test_a_forms_page_loses_the_tenant_id_too(web: Site) -> None:
    pages = {route.name: route.page for route in web.web.routes}
    assert pages["approve"] == "/review/{account_id}"
    assert pages["logout"] == "/login"


def test_the_reviewer_routes_are_the_one_tenants(web: Site) -> None:
    assert web.web.reviewer_tenant(WebRequest("GET", "/review")) == "pim"
    assert web.web.reviewer_tenant(WebRequest("GET", "/login")) is None


def test_an_unknown_tenant_is_a_configuration_error(memory_store: SqlStore) -> None:
    with pytest.raises(ConfigurationError) as raised, site(memory_store, tenant="nope"):
        pass
    assert raised.value.params["key"] == "tenant"


def test_a_tenant_list_does_not_go_with_one_tenant(memory_store: SqlStore) -> None:
    with (
        pytest.raises(ConfigurationError) as raised,
        site(memory_store, tenant="pim", list_tenants=True),
    ):
        pass
    assert raised.value.params["key"] == "list_tenants"


# -- other tenants ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/dam/login", "/dam/api/form", "/pim/login", "/pim/api/form", "/dam"]
)
def test_no_other_tenant_and_no_tenant_id_path_is_served(web: Site, path: str) -> None:
    assert web.browser().get(path).status == 404


def test_an_unknown_api_path_answers_json(web: Site) -> None:
    answer = web.browser().get("/api/nothing")
    assert answer.status == 404
    assert error_of(answer)["code"] == "web.not_found"


def test_another_tenants_mailed_link_is_refused(web: Site) -> None:
    web.onboarding.register("dam", registration_form(ANNA))
    token = latest_token(web.store, ANNA, "confirmation")
    answer = web.browser().post_json("/api/confirm", {"token": token})
    assert answer.status == 404
    assert error_of(answer)["code"] == "web.link_wrong_portal"
    account = web.account("dam", ANNA)
    assert account is not None
    assert account.status is AccountStatus.PENDING_CONFIRMATION


# -- the API through a whole registration -----------------------------------------------------


def test_register_confirm_review_and_sign_in_through_the_api(web: Site) -> None:
    person = web.browser()
    registered = person.post_json(
        "/api/register",
        {
            "email": ANNA,
            "password": STRONG,
            "fields": {"customer_number": "123456"},
            "consents": {"privacy": True},
        },
    )
    assert registered.status == 202
    link = urlsplit(_mailed_link(web, ANNA, "confirmation"))
    assert link.path == f"{MOUNT}/confirm"
    token = latest_token(web.store, ANNA, "confirmation")
    assert person.get("/api/confirm", query={"token": token}).json()["tenant"] == "pim"
    assert person.post_json("/api/confirm", {"token": token}).json() == {"status": "pending_review"}

    web.reviewer()
    reviewer = web.browser()
    login = {"email": REVIEWER, "password": REVIEWER_PASSWORD}
    assert reviewer.post_json("/api/login", login).status == 200
    waiting = reviewer.get("/api/reviews").json()["accounts"]
    assert [account["email"] for account in waiting] == [ANNA]
    approved = reviewer.post_json(f"/api/reviews/{waiting[0]['id']}/approve", {"roles": ["viewer"]})
    assert approved.status == 200

    assert person.post_json("/api/login", {"email": ANNA, "password": STRONG}).status == 200
    me = person.get("/api/me").json()
    assert me["account"]["email"] == ANNA
    assert me["account"]["tenant"] == "pim"


# -- the pages through a whole registration, served by WSGI at /onboarding -------------------


def test_register_confirm_review_and_sign_in_through_the_pages(web: Site, port: int) -> None:
    person = HttpClient(port)
    page = person.get(f"{MOUNT}/register")
    assert page.status == 200
    forms = [form["action"] for form in tags(page.text, "form")]
    assert forms == [f"{MOUNT}/register"]
    sent = person.post_form(f"{MOUNT}/register", registration_form(ANNA))
    assert sent.status == 303
    assert (sent.header("location") or "").startswith(f"{MOUNT}/sent?")

    link = urlsplit(_mailed_link(web, ANNA, "confirmation"))
    assert link.path == f"{MOUNT}/confirm"  # the mailed link opens this mount's page
    confirm_page = person.get(f"{link.path}?{link.query}")
    assert confirm_page.status == 200
    assert [form["action"] for form in tags(confirm_page.text, "form")] == [f"{MOUNT}/confirm"]
    token = latest_token(web.store, ANNA, "confirmation")
    confirmed = person.post_form(f"{MOUNT}/confirm", {"token": token})
    assert confirmed.header("location") == f"{MOUNT}/pending"
    assert person.get(f"{MOUNT}/pending").status == 200

    account = web.account("pim", ANNA)
    assert account is not None
    web.reviewer()
    reviewer = HttpClient(port)
    queue = reviewer.get(f"{MOUNT}/review")
    assert queue.status == 303
    assert queue.header("location") == f"{MOUNT}/login?next=%2Fonboarding%2Freview"
    reviewer.get(f"{MOUNT}/login")
    signed_in = reviewer.post_form(
        f"{MOUNT}/login",
        {"email": REVIEWER, "password": REVIEWER_PASSWORD, "next": f"{MOUNT}/review"},
    )
    assert signed_in.header("location") == f"{MOUNT}/review"
    session = [c for c in signed_in.header_values("set-cookie") if "onboardkit_session=" in c]
    assert session
    assert f"Path={MOUNT}/;" in session[0]
    queue = reviewer.get(f"{MOUNT}/review")
    assert f'href="{MOUNT}/review/{account.id}"' in queue.text
    reviewer.get(f"{MOUNT}/review/{account.id}")
    approved = reviewer.post_form(
        f"{MOUNT}/review/{account.id}/approve", {"roles": ["viewer"], "user_type": "staff"}
    )
    assert approved.status == 303
    assert (approved.header("location") or "").startswith(f"{MOUNT}/review?approved=")
    login_link = urlsplit(_mailed_link(web, ANNA, "approved"))
    assert login_link.path == f"{MOUNT}/login"

    person.get(login_link.path)
    signed_in = person.post_form(f"{MOUNT}/login", {"email": ANNA, "password": STRONG})
    assert signed_in.header("location") == f"{MOUNT}/account"
    account_page = person.get(f"{MOUNT}/account")
    assert account_page.status == 200
    assert ANNA in account_page.text
    assert [form["action"] for form in tags(account_page.text, "form")][-1] == f"{MOUNT}/logout"
    signed_out = person.post_form(f"{MOUNT}/logout", {})
    assert signed_out.header("location") == f"{MOUNT}/login?notice=signed_out"
    assert person.get(f"{MOUNT}/account").status == 303


def test_the_mounts_root_is_the_tenants_start(web: Site, port: int) -> None:
    answer = HttpClient(port).get(f"{MOUNT}/")
    assert answer.status == 303
    assert answer.header("location") == f"{MOUNT}/login"


def test_pages_link_their_style_theme_and_language_below_the_mount(web: Site, port: int) -> None:
    page = HttpClient(port).get(f"{MOUNT}/login")
    hrefs = [link["href"] for link in tags(page.text, "link")]
    assert hrefs == [f"{MOUNT}/static/onboardkit.css", f"{MOUNT}/theme.css"]
    assert f'href="{MOUNT}/login?lang=de"' in page.text
    assert HttpClient(port).get(f"{MOUNT}/theme.css").status == 200


def test_a_single_tenant_at_the_servers_root(memory_store: SqlStore) -> None:
    """Without a mount, the one tenant's pages are the site's own: /login, /api/form."""
    with site(memory_store, FrozenClock(), tenant="dam") as made:
        browser = made.browser()
        assert browser.get("/").header("location") == "/login"
        page = browser.get("/login")
        assert [form["action"] for form in tags(page.text, "form")][-1] == "/login"
        assert browser.get("/api/form").json()["tenant"] == "dam"


def test_the_same_secret_keeps_cookies_valid_only_for_the_one_tenant(web: Site) -> None:
    """A session cookie of another tenant (same secret, another web) signs nobody in here."""
    every = OnboardingWeb(web.onboarding, secret=SECRET)
    web.onboarding.create_account("dam", ANNA, STRONG, roles=[], created_by="test")
    elsewhere = Browser.for_web(every)
    assert elsewhere.post_json("/dam/api/login", {"email": ANNA, "password": STRONG}).status == 200
    here = web.browser()
    here.cookies = dict(elsewhere.cookies)
    assert here.get("/api/me").status == 401
