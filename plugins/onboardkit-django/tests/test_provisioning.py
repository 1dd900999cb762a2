"""An activated account becomes a Django user inside the activation's own transaction."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from onboardkit_django.service import service
from onboardkit_django.users import UserMapping
from support import REVIEWER, browser, register

from onboardkit.onboarding import ProvisioningFailed
from onboardkit.testing.browser import follow_mail

pytestmark = pytest.mark.django_db(transaction=True)


class FailingMapping(UserMapping):
    """A project's mapping whose write fails after the user row was saved."""

    def provision(self, tenant, account, *, using=None):  # type: ignore[no-untyped-def]
        super().provision(tenant, account, using=using)
        raise RuntimeError("the project's own table refused the row")


def confirmed(email: str) -> str:
    client = browser()
    register(client, email)
    follow_mail(client, service().onboarding.store, email, "confirmation")
    (account,) = [a for a in service().onboarding.pending_reviews("pim") if a.email == email]
    return account.id


def test_the_approval_creates_the_user_with_groups_and_an_unusable_password() -> None:
    account_id = confirmed("ada@example.com")
    assert not get_user_model().objects.filter(email="ada@example.com").exists()

    service().onboarding.approve("pim", account_id, roles=["viewer", "editor"], reviewer=REVIEWER)

    user = get_user_model().objects.get(username=f"pim.{account_id}")
    assert user.email == "ada@example.com"
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")
    assert sorted(user.groups.values_list("name", flat=True)) == ["editor", "viewer"]
    assert not user.has_usable_password()


def test_a_failing_user_write_rolls_the_approval_back_with_the_user(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ONBOARDKIT = {
        **settings.ONBOARDKIT,
        "USER_MAPPING": "test_provisioning.FailingMapping",
    }
    account_id = confirmed("ada@example.com")

    with pytest.raises(ProvisioningFailed):
        service().onboarding.approve("pim", account_id, roles=["editor"], reviewer=REVIEWER)

    assert service().onboarding.account("pim", account_id).status.value == "pending_review"
    assert not get_user_model().objects.filter(email="ada@example.com").exists()
