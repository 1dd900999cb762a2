"""The JSON API of the web layer: every flow, the error body and the status codes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from onboarding_helpers import STRONG, latest_token
from onboardkit.accounts import AccountStatus
from onboardkit.ratelimits import RateLimiter, RateLimits, SqlRateLimitBackend
from onboardkit.sqlstore import SqlStore
from onboardkit.testing import FrozenClock, MemoryRateLimitBackend
from onboardkit.web import ERROR_SCHEMA, MAX_BODY_BYTES
from web_helpers import REVIEWER, REVIEWER_PASSWORD, Browser, Site, error_of, site

ANNA = "anna@example.com"
CARLA = "carla@example.com"
INA = "ina@example.com"
JSON = {"content-type": "application/json"}
GERMAN = {"accept-language": "de-DE,de;q=0.9"}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def web(memory_store: SqlStore, clock: FrozenClock) -> Iterator[Site]:
    with site(memory_store, clock) as made:
        yield made


@pytest.fixture
def api(web: Site) -> Browser:
    return web.browser()


def registration(email: str = ANNA, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email": email,
        "password": STRONG,
        "given_name": "Anna",
        "family_name": "Berg",
        "fields": {"customer_number": "123456"},
        "consents": {"privacy": True},
    }
    data.update(extra)
    return data


def signup(kind: str = "customer", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": kind,
        "given_name": "Carla",
        "family_name": "Diaz",
        "company": {"name": "Diaz Logistics"},
        "password": STRONG,
        "consents": {"terms": True, "privacy": True},
    }
    data.update(extra)
    return data


def _reviewer(web: Site) -> Browser:
    web.reviewer()
    browser = web.browser()
    answer = browser.post_json("/pim/api/login", {"email": REVIEWER, "password": REVIEWER_PASSWORD})
    assert answer.status == 200
    return browser


def _waiting(web: Site, api: Browser, email: str = ANNA) -> str:
    assert api.post_json("/pim/api/register", registration(email)).status == 202
    token = latest_token(web.store, email, "confirmation")
    assert api.post_json("/pim/api/confirm", {"token": token}).status == 200
    account = web.account("pim", email)
    assert account is not None
    return account.id


def _status(web: Site, tenant: str, email: str) -> AccountStatus:
    account = web.account(tenant, email)
    assert account is not None
    return account.status


# -- the flows ----------------------------------------------------------------------------------


def test_the_form_description_lists_fields_consents_and_password_rules(api: Browser) -> None:
    answer = api.get("/pim/api/form")
    assert answer.status == 200
    data = answer.json()
    assert data["tenant"] == "pim"
    assert data["flows"] == ["registration"]
    assert "customer_number" in data["fields"]["properties"]
    assert {document["purpose"] for document in data["consents"]} == {"privacy", "newsletter"}
    assert data["password"]["rules"]


def test_a_registration_through_the_api_from_start_to_sign_in(web: Site, api: Browser) -> None:
    answer = api.post_json("/pim/api/register", registration())
    assert answer.status == 202
    assert answer.json() == {"step": "register", "email": "a***@example.com"}

    token = latest_token(web.store, ANNA, "confirmation")
    before = web.snapshot()
    preview = api.get("/pim/api/confirm", query={"token": token})
    assert preview.status == 200
    assert preview.json()["status"] == "ready"
    assert preview.json()["email"] == "a***@example.com"
    assert web.snapshot() == before

    confirmed = api.post_json("/pim/api/confirm", {"token": token})
    assert confirmed.status == 200
    assert confirmed.json() == {"status": "pending_review"}
    assert api.get("/pim/api/confirm", query={"token": token}).json()["status"] == "already_done"

    reviewer = _reviewer(web)
    waiting = reviewer.get("/pim/api/reviews")
    assert waiting.status == 200
    (listed,) = waiting.json()["accounts"]
    assert listed["email"] == ANNA
    assert "password_hash" not in listed
    assert reviewer.get(f"/pim/api/reviews/{listed['id']}").json()["account"]["id"] == listed["id"]

    approved = reviewer.post_json(
        f"/pim/api/reviews/{listed['id']}/approve", {"roles": ["editor"], "user_type": "staff"}
    )
    assert approved.status == 200
    assert approved.json()["account"]["status"] == "active"
    assert approved.json()["account"]["roles"] == ["editor"]
    assert approved.json()["account"]["user_type"] == "staff"

    person = web.browser()
    signed_in = person.post_json("/pim/api/login", {"email": ANNA, "password": STRONG})
    assert signed_in.status == 200
    assert signed_in.json()["account"]["email"] == ANNA
    me = person.get("/pim/api/me")
    assert me.status == 200
    assert me.json()["account"]["id"] == listed["id"]
    assert me.json()["reviewer"] is False
    assert reviewer.get("/pim/api/me").json()["reviewer"] is True


def test_a_rejection_through_the_api_needs_a_reason_and_is_mailed(web: Site, api: Browser) -> None:
    account_id = _waiting(web, api)
    reviewer = _reviewer(web)
    refused = reviewer.post_json(f"/pim/api/reviews/{account_id}/reject", {"reason": ""})
    assert refused.status == 422
    assert [issue["path"] for issue in error_of(refused)["issues"]] == ["reason"]
    assert _status(web, "pim", ANNA) is AccountStatus.PENDING_REVIEW

    answer = reviewer.post_json(f"/pim/api/reviews/{account_id}/reject", {"reason": "Unknown."})
    assert answer.status == 200
    assert answer.json()["account"]["status"] == "rejected"
    assert "Unknown." in web.mails(ANNA, "rejected")[0].text

    again = reviewer.post_json(f"/pim/api/reviews/{account_id}/approve", {"roles": []})
    assert again.status == 409
    error_of(again)

    login = web.browser().post_json("/pim/api/login", {"email": ANNA, "password": STRONG})
    assert login.status == 403
    assert error_of(login)["code"] == "login.rejected"


def test_an_invitation_through_the_api(web: Site, api: Browser) -> None:
    web.onboarding.invite("collab", INA, roles=["broker"], invited_by="admin@collab.example.com")
    token = latest_token(web.store, INA, "invitation")
    preview = api.get("/collab/api/invitation", query={"token": token})
    assert preview.status == 200
    assert preview.json()["purpose"] == "invite"

    weak = api.post_json(
        "/collab/api/invitation",
        {"token": token, "password": "qwzx", "consents": {"privacy": True}},
    )
    assert weak.status == 422
    issues = error_of(weak)["issues"]
    assert {issue["path"] for issue in issues} == {"password"}
    assert len(issues) == 4  # too short, upper case, digit, special character
    assert "qwzx" not in weak.text
    assert _status(web, "collab", INA) is AccountStatus.INVITED

    accepted = api.post_json(
        "/collab/api/invitation",
        {"token": token, "password": STRONG, "consents": {"privacy": True}},
    )
    assert accepted.status == 200
    assert accepted.json() == {"status": "active"}
    login = api.post_json("/collab/api/login", {"email": INA, "password": STRONG})
    assert login.status == 200
    assert login.json()["account"]["roles"] == ["broker"]


def test_a_partner_signup_through_the_api_with_a_bad_then_a_good_code(
    web: Site, api: Browser
) -> None:
    partner, code = web.onboarding.partner_registry.create("shop", "Acme Reseller")
    started = api.post_json("/shop/api/signup/start", {"email": CARLA})
    assert started.status == 202
    assert started.json() == {"step": "start_signup", "email": "c***@example.com"}
    token = latest_token(web.store, CARLA, "activation")
    assert api.get("/shop/api/signup", query={"token": token}).json()["offers"] == [
        "customer",
        "partner",
    ]

    bad = api.post_json(
        "/shop/api/signup", {"token": token, **signup("partner", partner_code="ZZZZ-ZZZZ-ZZZZ")}
    )
    assert bad.status == 422
    assert error_of(bad)["code"] == "partner_code.invalid"
    assert _status(web, "shop", CARLA) is AccountStatus.PENDING_ACTIVATION

    good = api.post_json(
        "/shop/api/signup", {"token": token, **signup("partner", partner_code=code)}
    )
    assert good.status == 200
    assert good.json()["status"] == "active"
    assert good.json()["account"]["user_type"] == "partner_user"
    account = web.account("shop", CARLA)
    assert account is not None
    assert account.partner is not None
    assert account.partner["id"] == partner.id


def test_a_customer_signup_through_the_api_can_invite_colleagues(web: Site, api: Browser) -> None:
    api.post_json("/shop/api/signup/start", {"email": CARLA})
    token = latest_token(web.store, CARLA, "activation")
    done = api.post_json("/shop/api/signup", {"token": token, **signup()})
    assert done.status == 200
    assert done.json()["account"]["user_type"] == "customer_admin"
    assert api.post_json("/shop/api/login", {"email": CARLA, "password": STRONG}).status == 200
    invited = api.post_json(
        "/shop/api/colleagues", {"email": "dora@example.com", "roles": ["buyer"]}
    )
    assert invited.status == 202
    assert _status(web, "shop", "dora@example.com") is AccountStatus.INVITED


def test_resend_through_the_api_replaces_the_link(web: Site, api: Browser) -> None:
    api.post_json("/pim/api/register", registration())
    first = latest_token(web.store, ANNA, "confirmation")
    web.clock.advance(1)  # the outbox lists the newest mail first
    answer = api.post_json("/pim/api/resend", {"email": ANNA})
    assert answer.status == 202
    assert answer.json() == {"step": "resend", "email": "a***@example.com"}
    second = latest_token(web.store, ANNA, "confirmation")
    assert second != first

    replaced = api.post_json("/pim/api/confirm", {"token": first})
    assert replaced.status == 410
    assert error_of(replaced)["code"] == "token.stale"
    assert api.post_json("/pim/api/confirm", {"token": second}).status == 200


def test_logout_ends_the_api_session(web: Site, api: Browser) -> None:
    web.onboarding.create_account("pim", "mia@example.com", STRONG, roles=[], created_by="test")
    assert (
        api.post_json("/pim/api/login", {"email": "mia@example.com", "password": STRONG}).status
        == 200
    )
    assert api.get("/pim/api/me").status == 200
    answer = api.post_json("/pim/api/logout")
    assert answer.status == 204
    assert answer.body == b""
    me = api.get("/pim/api/me")
    assert me.status == 401
    assert error_of(me)["code"] == "web.sign_in_required"


# -- errors and status codes -------------------------------------------------------------------


def test_a_refused_registration_lists_every_issue_by_path(api: Browser) -> None:
    answer = api.post_json("/pim/api/register", {"email": "not an address", "password": "x"})
    assert answer.status == 422
    error = error_of(answer)
    assert error["code"] == "validation.failed"
    paths = {issue["path"] for issue in error["issues"]}
    assert {"email", "password", "fields.customer_number", "consents.privacy"} <= paths
    for issue in error["issues"]:
        assert set(issue) == {"path", "code", "message", "params"}
        assert issue["message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        pytest.param("POST", "/pim/api/login", b"{", JSON, 400, id="json-invalid"),
        pytest.param("POST", "/pim/api/login", b"[1, 2]", JSON, 400, id="json-not-object"),
        pytest.param("POST", "/pim/api/confirm", b"{}", JSON, 400, id="token-missing"),
        pytest.param("POST", "/pim/api/confirm", b'{"token": "garbage"}', JSON, 400, id="token"),
        pytest.param(
            "POST",
            "/pim/api/login",
            b'{"email": "a@example.com", "password": "x"}',
            JSON,
            401,
            id="bad-credentials",
        ),
        pytest.param("GET", "/pim/api/me", b"", {}, 401, id="not-signed-in"),
        pytest.param("GET", "/pim/api/reviews", b"", {}, 401, id="reviews-anonymous"),
        pytest.param("GET", "/nowhere/api/form", b"", {}, 404, id="unknown-tenant"),
        pytest.param("GET", "/pim/api/nothing", b"", {}, 404, id="unknown-route"),
        pytest.param("POST", "/pim/api/signup/start", b"{}", JSON, 404, id="flow-not-offered"),
        pytest.param("DELETE", "/pim/api/login", b"", {}, 405, id="method"),
        pytest.param(
            "POST", "/pim/api/login", b"x", {"content-type": "text/plain"}, 415, id="text"
        ),
        pytest.param(
            "POST",
            "/pim/api/login",
            b"email=a",
            {"content-type": "application/x-www-form-urlencoded"},
            415,
            id="form",
        ),
        pytest.param("POST", "/pim/api/register", b"{}", JSON, 422, id="validation"),
    ],
)
def test_every_error_has_the_documented_body_and_status(
    api: Browser, method: str, path: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    answer = api.request(method, path, body=body, headers=headers)
    assert answer.status == status
    assert answer.media_type == "application/json"
    error_of(answer)
    jsonschema.validate(answer.json(), ERROR_SCHEMA)


def test_a_wrong_method_is_answered_with_the_allowed_ones(api: Browser) -> None:
    answer = api.request("PUT", "/pim/api/confirm", body=b"{}", headers=JSON)
    assert answer.status == 405
    assert set(str(answer.header("allow")).split(", ")) == {"GET", "POST"}
    assert error_of(answer)["code"] == "web.method_not_allowed"


def test_a_body_over_the_limit_is_refused_before_anything_runs(web: Site, api: Browser) -> None:
    body = b'{"email": "a@example.com", "password": "' + b"x" * MAX_BODY_BYTES + b'"}'
    before = web.snapshot()
    answer = api.request("POST", "/pim/api/register", body=body, headers=JSON)
    assert answer.status == 413
    assert error_of(answer)["params"] == {"max_bytes": MAX_BODY_BYTES}
    assert web.snapshot() == before


def test_a_deeply_nested_body_is_a_bad_request_not_a_server_error(api: Browser) -> None:
    body = b'{"fields": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    assert len(body) < MAX_BODY_BYTES
    answer = api.request("POST", "/pim/api/register", body=body, headers=JSON)
    assert answer.status == 400
    assert error_of(answer)["code"] == "web.json_invalid"


def test_a_signed_in_person_who_is_no_reviewer_is_forbidden(web: Site, api: Browser) -> None:
    account_id = _waiting(web, api)
    web.onboarding.create_account("pim", "mia@example.com", STRONG, roles=[], created_by="test")
    stranger = web.browser()
    stranger.post_json("/pim/api/login", {"email": "mia@example.com", "password": STRONG})
    for answer in (
        stranger.get("/pim/api/reviews"),
        stranger.get(f"/pim/api/reviews/{account_id}"),
        stranger.post_json(f"/pim/api/reviews/{account_id}/approve", {"roles": ["editor"]}),
    ):
        assert answer.status == 403
        assert error_of(answer)["code"] == "web.reviewer_required"
    assert _status(web, "pim", ANNA) is AccountStatus.PENDING_REVIEW


def test_login_refusals_other_than_bad_credentials_are_forbidden(web: Site, api: Browser) -> None:
    api.post_json("/pim/api/register", registration())
    unconfirmed = api.post_json("/pim/api/login", {"email": ANNA, "password": STRONG})
    assert unconfirmed.status == 403
    assert error_of(unconfirmed)["code"] == "login.email_not_confirmed"
    token = latest_token(web.store, ANNA, "confirmation")
    api.post_json("/pim/api/confirm", {"token": token})
    pending = api.post_json("/pim/api/login", {"email": ANNA, "password": STRONG})
    assert pending.status == 403
    assert error_of(pending)["code"] == "login.pending_review"


def test_an_expired_link_is_gone(web: Site, api: Browser, clock: FrozenClock) -> None:
    api.post_json("/pim/api/register", registration())
    token = latest_token(web.store, ANNA, "confirmation")
    clock.advance(30 * 86400)
    for answer in (
        api.get("/pim/api/confirm", query={"token": token}),
        api.post_json("/pim/api/confirm", {"token": token}),
    ):
        assert answer.status == 410
        assert error_of(answer)["code"] == "token.expired"
    assert _status(web, "pim", ANNA) is AccountStatus.PENDING_CONFIRMATION


def test_approving_with_an_unknown_role_is_an_issue_at_the_role(web: Site, api: Browser) -> None:
    account_id = _waiting(web, api)
    answer = _reviewer(web).post_json(
        f"/pim/api/reviews/{account_id}/approve", {"roles": ["viewer", "root"], "user_type": "x"}
    )
    assert answer.status == 422
    paths = [issue["path"] for issue in error_of(answer)["issues"]]
    assert paths == ["roles[1]", "user_type"]
    assert _status(web, "pim", ANNA) is AccountStatus.PENDING_REVIEW


def test_an_unknown_account_is_not_found(web: Site) -> None:
    answer = _reviewer(web).get("/pim/api/reviews/0123456789abcdef")
    assert answer.status == 404
    assert error_of(answer)["code"] == "account.not_found"


# -- rate limits ----------------------------------------------------------------------------------


def _limited(memory_store: SqlStore, clock: FrozenClock, backend: Any) -> RateLimiter:
    limits = RateLimits.from_mapping({"register": {"ip": {"limit": 2, "window": 600}}})
    return RateLimiter(limits, backend, clock)


@pytest.mark.parametrize("backend", ["memory", "sql"])
def test_too_many_registrations_are_answered_with_429_and_retry_after(
    memory_store: SqlStore, clock: FrozenClock, backend: str
) -> None:
    counter = (
        MemoryRateLimitBackend()
        if backend == "memory"
        else SqlRateLimitBackend(memory_store.engine)
    )
    limiter = _limited(memory_store, clock, counter)
    with site(memory_store, clock, limiter=limiter) as web:
        api = web.browser()
        for number in range(2):
            email = f"person{number}@example.com"
            assert api.post_json("/pim/api/register", registration(email)).status == 202
        answer = api.post_json("/pim/api/register", registration("third@example.com"))
        assert answer.status == 429
        error = error_of(answer)
        assert error["code"] == "rate_limited"
        retry_after = int(str(answer.header("retry-after")))
        assert 0 < retry_after <= 2 * 600  # a sliding window: the previous window counts too
        assert error["params"]["retry_after"] == retry_after
        assert web.account("pim", "third@example.com") is None

        page = web.browser(client_address="192.0.2.10")
        page.get("/pim/register")
        refused = page.post("/pim/register", {"email": "fourth@example.com"})
        assert refused.status == 429
        page_retry_after = int(str(refused.header("retry-after")))
        assert page_retry_after >= retry_after
        assert web.account("pim", "fourth@example.com") is None

        clock.advance(page_retry_after)
        assert api.post_json("/pim/api/register", registration("third@example.com")).status == 202


# -- languages and input ----------------------------------------------------------------------


def test_errors_are_german_for_a_german_client(web: Site, api: Browser) -> None:
    answer = api.post_json("/pim/api/register", {"email": "x"}, headers=GERMAN)
    error = error_of(answer)
    english = error_of(api.post_json("/pim/api/register", {"email": "x"}))
    assert error["code"] == english["code"]
    assert error["message"] != english["message"]
    assert [issue["code"] for issue in error["issues"]] == [
        issue["code"] for issue in english["issues"]
    ]
    for german, other in zip(error["issues"], english["issues"], strict=True):
        assert german["message"] != other["message"], german
    login = error_of(
        api.post_json("/pim/api/login", {"email": ANNA, "password": "x"}, headers=GERMAN)
    )
    assert login["message"] == web.text("login.bad_credentials", "de")
    assert login["message"] != web.text("login.bad_credentials", "en")
    media = api.request(
        "POST", "/pim/api/login", body=b"x", headers={"content-type": "text/plain", **GERMAN}
    )
    assert "JSON" in error_of(media)["message"]
    assert (
        error_of(media)["message"]
        != error_of(
            api.request("POST", "/pim/api/login", body=b"x", headers={"content-type": "text/plain"})
        )["message"]
    )


def test_nothing_but_the_declared_keys_is_taken_over(web: Site, api: Browser) -> None:
    data = registration(
        status="active",
        roles=["editor"],
        user_type="staff",
        reviewed_by="attacker@example.com",
        is_staff=True,
        profile={"is_admin": True},
        fields={"customer_number": "123456", "internal_rating": "A+", "employee_number": "7"},
        account={"status": "active"},
        company={"name": "ACME", "id": "other-org"},
    )
    assert api.post_json("/pim/api/register", data).status == 202
    account = web.account("pim", ANNA)
    assert account is not None
    assert account.status is AccountStatus.PENDING_CONFIRMATION
    assert account.roles == ()
    assert account.user_type is None
    assert account.reviewed_by is None
    assert account.organization_id is None
    assert dict(account.fields) == {"customer_number": "123456", "employee_number": "7"}
    assert set(account.profile) <= {"given_name", "family_name"}


def test_the_password_check_names_every_broken_rule(api: Browser) -> None:
    weak = api.post_json("/pim/api/password-check", {"password": "anna-berg"})
    assert weak.status == 200
    assert weak.json()["ok"] is False
    codes = {issue["code"] for issue in weak.json()["issues"]}
    assert "password.too_short" in codes

    strong = api.post_json("/pim/api/password-check", {"password": STRONG})
    assert strong.json() == {"ok": True, "issues": []}

    personal = api.post_json(
        "/pim/api/password-check",
        {
            "password": "Annabelle-Bergmann-1977",
            "given_name": "Annabelle",
            "family_name": "Bergmann",
        },
    )
    assert personal.json()["ok"] is False

    german = api.post_json("/pim/api/password-check", {"password": "x"}, headers=GERMAN)
    english = api.post_json("/pim/api/password-check", {"password": "x"})
    assert german.json()["issues"][0]["message"] != english.json()["issues"][0]["message"]


def test_the_password_check_answers_a_huge_password_with_an_issue(api: Browser) -> None:
    answer = api.post_json("/pim/api/password-check", {"password": "x" * 60_000})
    assert answer.status == 200
    assert answer.json()["ok"] is False
    assert [issue["code"] for issue in answer.json()["issues"]] == ["password.too_long"]


def test_the_error_schema_is_published(web: Site) -> None:
    assert web.web.error_schema == ERROR_SCHEMA
    jsonschema.Draft202012Validator.check_schema(ERROR_SCHEMA)


# -- consents after sign-up ---------------------------------------------------------------------


def _route_schema(web: Site, name: str, status: int = 200) -> Any:
    (route,) = [route for route in web.web.routes if route.name == name]
    return route.responses[status][1]


def test_an_account_without_consents_is_asked_and_consents_through_the_api(
    web: Site, api: Browser
) -> None:
    web.onboarding.create_account("pim", "mia@example.com", STRONG, roles=[], created_by="test")
    api.post_json("/pim/api/login", {"email": "mia@example.com", "password": STRONG})
    listed = api.get("/pim/api/me/consents", query={"lang": "de"})
    assert listed.status == 200
    jsonschema.validate(listed.json(), _route_schema(web, "api_my_consents"))
    states = {state["purpose"]: state for state in listed.json()["consents"]}
    assert states["privacy"]["title"] == "Privacy policy (de)"
    assert (states["privacy"]["required"], states["privacy"]["given"]) == (True, False)
    assert states["newsletter"]["given_at"] is None

    given = api.post_json("/pim/api/me/consents", {"consents": {"privacy": True}})
    assert given.status == 200
    jsonschema.validate(given.json(), _route_schema(web, "api_give_consents"))
    privacy = {state["purpose"]: state for state in given.json()["consents"]}["privacy"]
    assert (privacy["given"], privacy["current"], privacy["given_version"]) == (
        True,
        True,
        "2024-05",
    )
    assert privacy["given_at"].endswith("Z")


def test_withdrawing_through_the_api_ends_an_optional_consent_only(web: Site, api: Browser) -> None:
    web.onboarding.create_account("pim", "mia@example.com", STRONG, roles=[], created_by="test")
    api.post_json("/pim/api/login", {"email": "mia@example.com", "password": STRONG})
    api.post_json("/pim/api/me/consents", {"consents": {"newsletter": True, "privacy": True}})
    withdrawn = api.post_json("/pim/api/me/consents/newsletter/withdraw")
    assert withdrawn.status == 200
    states = {state["purpose"]: state for state in withdrawn.json()["consents"]}
    assert (states["newsletter"]["given"], states["privacy"]["given"]) == (False, True)
    refused = api.post_json("/pim/api/me/consents/privacy/withdraw")
    assert refused.status == 422
    assert error_of(refused)["issues"][0]["code"] == "consent.required_purpose"
    unknown = api.post_json("/pim/api/me/consents/cookies/withdraw")
    assert unknown.status == 422
    assert error_of(unknown)["issues"][0]["code"] == "consent.purpose_unknown"


def test_consents_through_the_api_need_a_sign_in_and_this_site(web: Site, api: Browser) -> None:
    assert api.get("/pim/api/me/consents").status == 401
    assert api.post_json("/pim/api/me/consents", {"consents": {"newsletter": True}}).status == 401
    web.onboarding.create_account("pim", "mia@example.com", STRONG, roles=[], created_by="test")
    api.post_json("/pim/api/login", {"email": "mia@example.com", "password": STRONG})
    foreign = api.post_json(
        "/pim/api/me/consents",
        {"consents": {"newsletter": True}},
        headers={"origin": "https://attacker.example"},
    )
    assert foreign.status == 403
    nothing = api.post_json("/pim/api/me/consents", {"consents": {"newsletter": False}})
    assert nothing.status == 422
    assert error_of(nothing)["issues"][0]["code"] == "consent.nothing_chosen"
    states = api.get("/pim/api/me/consents").json()["consents"]
    assert not any(state["given"] for state in states)
