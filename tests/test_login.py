"""Login support: typed reasons only after the right password, same cost, upgrade on login."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from onboarding_helpers import (
    OTHER_STRONG,
    STRONG,
    CountingHasher,
    latest_token,
    registration_form,
    service,
)
from onboardkit.accounts import AccountStatus
from onboardkit.hashing import PasswordHasher
from onboardkit.onboarding import LoginFailed, Onboarding
from onboardkit.ratelimits import RateLimited, RateLimiter, RateLimits
from onboardkit.sqlstore import SqlStore
from onboardkit.testing import FrozenClock
from onboardkit.testing.passwords import CheapTestHasher, fast_argon2_hasher
from onboardkit.testing.ratelimits import MemoryRateLimitBackend

ANNA = "anna@example.org"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def onboarding(memory_store: SqlStore, clock: FrozenClock) -> Iterator[Onboarding]:
    with service(memory_store, clock) as built:
        yield built


def login_code(onboarding: Onboarding, email: str, password: str) -> str:
    with pytest.raises(LoginFailed) as caught:
        onboarding.authenticate("pim", email, password)
    return caught.value.code


def test_each_status_has_its_reason_but_only_with_the_right_password(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.register("pim", registration_form(ANNA))
    assert login_code(onboarding, ANNA, STRONG) == "login.email_not_confirmed"
    assert login_code(onboarding, ANNA, "wrong") == "login.bad_credentials"
    with pytest.raises(LoginFailed) as caught:
        onboarding.authenticate("pim", ANNA, STRONG)
    assert caught.value.params == {"resend_available": True}

    account = onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
    assert login_code(onboarding, ANNA, STRONG) == "login.pending_review"
    assert login_code(onboarding, ANNA, "wrong") == "login.bad_credentials"

    onboarding.reject("pim", account.id, reviewer="lead", reason="Unknown customer")
    assert login_code(onboarding, ANNA, STRONG) == "login.rejected"
    assert login_code(onboarding, ANNA, "wrong") == "login.bad_credentials"


def test_disabled_accounts_are_told_so_and_enabled_ones_log_in_again(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.register("dam", registration_form(ANNA))
    account = onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
    onboarding.disable("dam", account.id, actor="admin")
    with pytest.raises(LoginFailed) as caught:
        onboarding.authenticate("dam", ANNA, STRONG)
    assert caught.value.code == "login.disabled"
    assert caught.value.localized("de").startswith("Dieses Konto ist gesperrt")
    onboarding.enable("dam", account.id)
    assert onboarding.authenticate("dam", ANNA, STRONG).status is AccountStatus.ACTIVE


def test_unknown_addresses_and_bad_input_get_bad_credentials(onboarding: Onboarding) -> None:
    assert login_code(onboarding, "nobody@example.org", STRONG) == "login.bad_credentials"
    assert login_code(onboarding, "not an address", STRONG) == "login.bad_credentials"
    assert login_code(onboarding, ANNA, "x" * 1_000_000) == "login.bad_credentials"


def test_unknown_addresses_cost_a_password_verification_too(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    verified: list[str] = []

    class CountingHasher(CheapTestHasher):
        def verify(self, password: str, stored: str) -> bool:
            verified.append(stored)
            return super().verify(password, stored)

    hasher = CountingHasher()
    with service(memory_store, clock, hasher=hasher) as onboarding:
        with pytest.raises(LoginFailed):
            onboarding.authenticate("pim", "nobody@example.org", STRONG)
        assert len(verified) == 1
        assert verified[0].startswith("$onboardkit-test-sha256$")


def test_every_login_costs_one_password_verification_whoever_asks(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    hasher = CountingHasher()
    with service(memory_store, clock, hasher=hasher) as onboarding:
        onboarding.register("dam", registration_form(ANNA))
        onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
        onboarding.invite("collab", "erik@example.org", roles=[], invited_by="Admin")
        # The stand-in hash for unknown addresses is made with the service, so not even the
        # very first unknown address costs more or less than a known one.
        attempts = {
            "right password": lambda: onboarding.authenticate("dam", ANNA, STRONG),
            "wrong password": lambda: onboarding.authenticate("dam", ANNA, OTHER_STRONG),
            "unknown address": lambda: onboarding.authenticate("dam", "zed@example.org", STRONG),
            "not an address": lambda: onboarding.authenticate("dam", "not an address", STRONG),
            "no password yet": lambda: onboarding.authenticate(
                "collab", "erik@example.org", STRONG
            ),
        }
        costs = {name: hasher.cost_of(attempt) for name, attempt in attempts.items()}
    assert costs == {name: ["verify"] for name in attempts}


def test_a_password_logs_in_only_exactly_as_typed_with_its_spaces_and_emoji(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    typed = "  Ein \U0001f434 frisst \U0001f50b Heftklammern  "
    with service(memory_store, clock) as onboarding:
        onboarding.register("dam", registration_form(ANNA, password=typed))
        onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
        assert onboarding.authenticate("dam", ANNA, typed).status is AccountStatus.ACTIVE
        for altered in (typed.strip(), typed.replace("\U0001f434", ""), typed[:24]):
            with pytest.raises(LoginFailed) as caught:
                onboarding.authenticate("dam", ANNA, altered)
            assert caught.value.code == "login.bad_credentials"


def test_a_password_set_in_one_unicode_form_logs_in_in_another(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    composed = "Caf\u00e9-Cr\u00e8me-Br\u00fbl\u00e9e-Nachtisch"
    decomposed = "Cafe\u0301-Cre\u0300me-Bru\u0302le\u0301e-Nachtisch"
    assert composed != decomposed
    with service(memory_store, clock, hasher=fast_argon2_hasher()) as onboarding:
        onboarding.register("dam", registration_form(ANNA, password=composed))
        onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
        assert onboarding.authenticate("dam", ANNA, decomposed).status is AccountStatus.ACTIVE


def test_a_weaker_hash_is_replaced_at_the_next_login(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    with service(memory_store, clock, hasher=fast_argon2_hasher()) as onboarding:
        onboarding.register("dam", registration_form(ANNA))
        onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
    stronger = PasswordHasher(memory_cost=256, iterations=1, lanes=1, allow_weak_parameters=True)
    with service(memory_store, clock, hasher=stronger) as upgraded:
        account = upgraded.authenticate("dam", ANNA, STRONG)
        assert account.password_hash is not None
        assert not stronger.needs_rehash(account.password_hash)
        stored = memory_store.atomic(lambda tx: tx.account(account.id))
        assert stored is not None
        assert stored.password_hash == account.password_hash
        assert upgraded.authenticate("dam", ANNA, STRONG).id == account.id


def test_rate_limits_give_a_typed_answer(memory_store: SqlStore, clock: FrozenClock) -> None:
    limits = RateLimits.from_mapping({"login": {"email": {"limit": 2, "window": 300}}})
    limiter = RateLimiter(limits, MemoryRateLimitBackend(), clock)
    with service(memory_store, clock, limiter=limiter) as onboarding:
        for _ in range(2):
            with pytest.raises(LoginFailed):
                onboarding.authenticate("pim", ANNA, "wrong", client_address="192.0.2.9")
        with pytest.raises(RateLimited) as caught:
            onboarding.authenticate("pim", ANNA, STRONG, client_address="192.0.2.9")
        assert caught.value.code == "rate_limited"
        assert caught.value.retry_after > 0
