"""Review in the Django admin: the queue with approve and reject, accounts read-only, the outbox
with "retry now", the consent ledger view-only, partner codes issued once and revoked.

Every test works through Django's test client as a staff member, with or without the review
permission; every change it sees was made by the project's onboarding service.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core import mail
from django.test import Client, override_settings
from onboardkit_django.models import AccountRow, ConsentRecordRow, OutboxMailRow, PartnerCodeRow
from onboardkit_django.service import service
from support import browser, register

from onboardkit.testing.browser import follow_mail

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNTS = "/admin/onboardkit/accountrow/"
OUTBOX = "/admin/onboardkit/outboxmailrow/"
LEDGER = "/admin/onboardkit/consentrecordrow/"
CODES = "/admin/onboardkit/partnercoderow/"


def staff(name: str, *, review: bool) -> Client:
    user = User.objects.create_user(name, f"{name}@example.com", "Staff-Password-42", is_staff=True)
    if review:
        user.user_permissions.add(Permission.objects.get(codename="review_account"))
    client = Client()
    client.force_login(user)
    return client


def waiting(email: str) -> AccountRow:
    """A pim registration of ``email``, confirmed, in the review queue."""
    person = browser()
    assert register(person, email).status == 303
    assert follow_mail(person, service().onboarding.store, email, "confirmation").status == 303
    return AccountRow.objects.get(email=email)


def act(client: Client, url: str, action: str, rows: list[Any], **form: Any) -> Any:
    return client.post(
        url, {"action": action, "_selected_action": [row.pk for row in rows], **form}, follow=True
    )


def test_the_review_queue_lists_the_confirmed_registrations() -> None:
    row = waiting("queue@example.com")
    reviewer = staff("rita", review=True)
    page = reviewer.get(f"{ACCOUNTS}review/", follow=True)
    assert page.status_code == 200
    assert "queue@example.com" in page.content.decode()
    assert row.status == "pending_review"


def test_a_reviewer_approves_with_roles_and_the_service_records_the_decision() -> None:
    row = waiting("approve@example.com")
    reviewer = staff("rita", review=True)
    form = act(reviewer, ACCOUNTS, "approve", [row])
    assert "Approve registrations in PIM Portal" in form.content.decode()
    done = act(reviewer, ACCOUNTS, "approve", [row], apply="1", roles=["editor"])
    assert "Approved 1 account(s)." in done.content.decode()
    account = service().onboarding.account("pim", row.id)
    assert account.status.value == "active"
    assert list(account.roles) == ["editor"]
    assert account.reviewed_by == "rita@example.com"
    assert User.objects.filter(email="approve@example.com").exists()


def test_the_approve_form_shows_the_services_message_for_an_unknown_role() -> None:
    row = waiting("norole@example.com")
    page = act(staff("rita", review=True), ACCOUNTS, "approve", [row], apply="1", roles=["root"])
    assert page.status_code == 200
    assert "errorlist" in page.content.decode()
    assert "root" in page.content.decode()
    assert AccountRow.objects.get(pk=row.pk).status == "pending_review"


def test_a_reviewer_rejects_with_a_reason_the_person_reads() -> None:
    row = waiting("reject@example.com")
    reason = "We could not verify your company."
    act(staff("rita", review=True), ACCOUNTS, "reject", [row], apply="1", reason=reason)
    assert AccountRow.objects.get(pk=row.pk).status == "rejected"
    rejected = OutboxMailRow.objects.get(recipient="reject@example.com", kind="rejected")
    assert reason in rejected.text


def test_a_reject_without_a_reason_shows_the_services_message() -> None:
    row = waiting("noreason@example.com")
    page = act(staff("rita", review=True), ACCOUNTS, "reject", [row], apply="1", reason=" ")
    assert "errorlist" in page.content.decode()
    assert AccountRow.objects.get(pk=row.pk).status == "pending_review"


def test_staff_without_the_permission_neither_see_nor_decide() -> None:
    row = waiting("guarded@example.com")
    other = staff("otto", review=False)
    assert other.get(ACCOUNTS).status_code == 403
    act(other, ACCOUNTS, "approve", [row], apply="1", roles=["editor"])
    assert AccountRow.objects.get(pk=row.pk).status == "pending_review"
    assert other.get(f"{CODES}add/").status_code == 403


def test_view_permission_alone_shows_accounts_without_the_review_actions() -> None:
    row = waiting("viewonly@example.com")
    user = User.objects.create_user("vera", "vera@example.com", "Staff-Password-42", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_accountrow"))
    client = Client()
    client.force_login(user)
    page = client.get(ACCOUNTS)
    assert page.status_code == 200
    assert 'value="approve"' not in page.content.decode()
    act(client, ACCOUNTS, "approve", [row], apply="1", roles=["editor"])
    assert AccountRow.objects.get(pk=row.pk).status == "pending_review"


def test_accounts_are_read_only_with_filters_and_search() -> None:
    row = waiting("search@example.com")
    reviewer = staff("rita", review=True)
    found = reviewer.get(ACCOUNTS, {"q": "search@"}).content.decode()
    assert "search@example.com" in found
    assert "search@example.com" not in reviewer.get(ACCOUNTS, {"tenant": "shop"}).content.decode()
    detail = reviewer.get(f"{ACCOUNTS}{row.pk}/change/")
    assert detail.status_code == 200
    assert "password_hash" not in detail.content.decode()
    reviewer.post(f"{ACCOUNTS}{row.pk}/change/", {"email": "changed@example.com"})
    assert AccountRow.objects.get(pk=row.pk).email == "search@example.com"
    assert reviewer.get(f"{ACCOUNTS}{row.pk}/delete/").status_code == 403


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_retry_now_sends_the_mail_through_the_outbox_worker() -> None:
    waiting("retry@example.com")
    onboarding = service().onboarding
    later = onboarding.clock() + 3600
    row = OutboxMailRow.objects.get(recipient="review@pim.example.com")

    # A failed attempt, as the worker records it: due in an hour.
    onboarding.store.atomic(lambda tx: tx.mark_mail_failed(row.id, "connection refused", later))
    mail.outbox.clear()
    page = act(staff("rita", review=True), OUTBOX, "retry_now", [row])
    assert "Sent" in page.content.decode()
    assert OutboxMailRow.objects.get(pk=row.pk).sent_at is not None
    assert any("review@pim.example.com" in message.to for message in mail.outbox)


def test_the_consent_ledger_is_view_only() -> None:
    waiting("ledger@example.com")
    reviewer = staff("rita", review=True)
    page = reviewer.get(LEDGER)
    assert page.status_code == 200
    record = ConsentRecordRow.objects.filter(subject="ledger@example.com").first()
    if record is not None:
        assert reviewer.get(f"{LEDGER}{record.pk}/change/").status_code == 200
    assert reviewer.get(f"{LEDGER}add/").status_code == 403
    assert 'name="action"' not in page.content.decode()


def test_a_partner_code_is_shown_once_and_only_its_digest_is_stored() -> None:
    reviewer = staff("rita", review=True)
    page = reviewer.post(f"{CODES}add/", {"tenant": "shop", "name": "Acme", "max_uses": "5"})
    assert page.status_code == 200
    code = re.search(r'id="partner-code">([^<]+)<', page.content.decode())
    assert code is not None
    row = PartnerCodeRow.objects.get(partner_name="Acme")
    assert code.group(1) not in str(vars(row))
    assert row.max_uses == 5
    listing = reviewer.get(CODES).content.decode()
    assert code.group(1) not in listing
    partner = service().onboarding.partner_registry.inspect("shop", code.group(1))
    assert partner is not None
    assert partner.partner.name == "Acme"


def test_issuing_shows_the_registrys_message_for_a_bad_limit() -> None:
    page = staff("rita", review=True).post(
        f"{CODES}add/", {"tenant": "shop", "name": "Acme", "max_uses": "0"}
    )
    assert "errorlist" in page.content.decode()
    assert not PartnerCodeRow.objects.exists()


def test_a_revoked_code_is_refused_by_the_registry() -> None:
    reviewer = staff("rita", review=True)
    page = reviewer.post(f"{CODES}add/", {"tenant": "shop", "name": "Acme"}).content.decode()
    code = re.search(r'id="partner-code">([^<]+)<', page)
    assert code is not None
    row = PartnerCodeRow.objects.get()
    done = act(reviewer, CODES, "revoke", [row])
    assert "Revoked 1 code(s)." in done.content.decode()
    record = service().onboarding.partner_registry.inspect("shop", code.group(1))
    assert record is not None
    assert record.refusal(service().onboarding.clock()) == "revoked"


@override_settings()
def test_the_review_permission_is_the_projects_choice(settings: Any) -> None:
    settings.ONBOARDKIT = {**settings.ONBOARDKIT, "REVIEW_PERMISSION": "auth.view_user"}
    row = waiting("custom@example.com")
    user = User.objects.create_user("cara", "cara@example.com", "Staff-Password-42", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    client = Client()
    client.force_login(user)
    act(client, ACCOUNTS, "approve", [row], apply="1", roles=["viewer"])
    assert AccountRow.objects.get(pk=row.pk).status == "active"
    assert staff("rita", review=True).get(ACCOUNTS).status_code == 403
