"""``manage.py onboardkit``: onboardkit's commands on the project's service."""

from __future__ import annotations

import io
import json

import pytest
from django.core import mail
from django.core.management import call_command
from onboardkit_django.service import service
from support import REVIEWER, browser, register

pytestmark = pytest.mark.django_db(transaction=True)


def manage(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("onboardkit", *args, stdout=out, stderr=err)
    except SystemExit as stop:
        return int(stop.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_pending_and_approve_work_on_the_projects_service() -> None:
    from onboardkit.testing.browser import follow_mail

    client = browser()
    register(client, "ada@example.com")
    follow_mail(client, service().onboarding.store, "ada@example.com", "confirmation")

    code, out, _ = manage("pending", "--json")
    assert code == 0
    (row,) = json.loads(out)
    assert row["email"] == "ada@example.com"

    code, _, _ = manage("approve", row["id"], "--role", "editor", "--reviewer", REVIEWER)
    assert code == 0
    assert service().onboarding.account("pim", row["id"]).status.value == "active"


def test_migrate_points_to_djangos_migrate() -> None:
    code, _, err = manage("migrate")
    assert code == 2
    assert "python manage.py migrate" in err


def test_outbox_deliver_sends_through_djangos_email_backend() -> None:
    register(browser(), "ada@example.com")
    code, _, _ = manage("outbox", "deliver")
    assert code == 0
    (sent,) = mail.outbox  # the test settings' locmem backend
    assert sent.to == ["ada@example.com"]
    assert "no-reply@pim.example.com" in sent.from_email
    assert sent.alternatives
    assert sent.alternatives[0][1] == "text/html"
    assert sent.extra_headers["Auto-Submitted"] == "auto-generated"


def test_usage_names_the_manage_py_command() -> None:
    code, _, err = manage("approve")
    assert code == 2
    assert "manage.py onboardkit" in err
