"""The quickstart of docs/flask.md, exactly as printed, is a working app: a person registers,
confirms, is approved by a reviewer, signs in on onboardkit's pages and is then the app's
Flask-Login ``current_user``, a ``User`` row the provisioning callback made in the approval's
transaction -- on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import importlib.util
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("flask_login")
pytest.importorskip("flask_sqlalchemy")

from flask import Flask
from flask_login import current_user
from flask_support import FlaskTransport

from onboardkit.testing import Browser, follow_mail, sign_in

DOC = Path(__file__).resolve().parents[3] / "docs" / "flask.md"
PASSWORD = "Tundra-Violet-Harbor-93"
REVIEWER = "review@pim.example.com"
ANNA = "anna@example.org"


def quickstart_source() -> str:
    """The first Python block below the quickstart heading of docs/flask.md, as printed."""
    section = DOC.read_text(encoding="utf-8").split("\n## Quickstart\n", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "docs/flask.md has no Python block under ## Quickstart"
    return found.group(1)


def settings() -> dict[str, Any]:
    return {
        "secret_key": secrets.token_urlsafe(32),
        "tenants": {
            "pim": {
                "name": "PIM Portal",
                "base_url": "http://localhost/onboarding/pim",
                "sender": "no-reply@pim.example.com",
                "flows": ["registration"],
                "review": {"required": True, "reviewers": [REVIEWER]},
            }
        },
    }


@pytest.fixture
def quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The quickstart's code as a module of its own (a fresh ``db``, ``onboardkit``, ...)."""
    name = f"quickstart_{secrets.token_hex(4)}"
    path = tmp_path / f"{name}.py"
    path.write_text(quickstart_source(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # Flask finds the app's root path there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def app(quickstart: ModuleType, database_url: str) -> Iterator[Flask]:
    app: Flask = quickstart.create_app(
        {
            "TESTING": True,
            "SECRET_KEY": secrets.token_hex(16),
            "SQLALCHEMY_DATABASE_URI": database_url,
            "ONBOARDKIT_SETTINGS": settings(),
        }
    )

    @app.get("/me")
    def me() -> str:
        return current_user.email if current_user.is_authenticated else "anonymous"

    yield app
    quickstart.onboardkit.close(app)
    with app.app_context():
        quickstart.db.engine.dispose()


def browser(app: Flask) -> Browser:
    return Browser(
        FlaskTransport(app.test_client(use_cookies=False)),
        base_url="http://localhost",
        root="/onboarding",
    )


def onboardkit_lines(source: str) -> list[str]:
    """The quickstart's lines that are onboardkit's: those naming it, and the callbacks it
    decorates (to the blank line after them); comments left out."""
    lines: list[str] = []
    in_callback = False
    for line in source.splitlines():
        if line.startswith("@onboardkit."):
            in_callback = True
        elif not line.strip():
            in_callback = False
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if in_callback or "onboardkit" in line.lower():
            lines.append(line)
    return lines


def test_the_quickstart_integrates_in_at_most_ten_lines():
    assert len(onboardkit_lines(quickstart_source())) <= 10, onboardkit_lines(quickstart_source())


def test_an_approved_person_signs_in_and_is_the_app_s_current_user(
    app: Flask, quickstart: ModuleType
):
    created = app.test_cli_runner().invoke(
        args=[
            "onboardkit",
            "account",
            "create",
            REVIEWER,
            "--tenant",
            "pim",
            "--created-by",
            "setup",
            "--password-stdin",
        ],
        input=f"{PASSWORD}\n",
    )
    assert created.exit_code == 0, created.output
    store = quickstart.onboardkit.state(app).onboarding.store

    person = browser(app)
    assert person.get("/onboarding/pim/register").status == 200
    registered = person.post("/onboarding/pim/register", {"email": ANNA, "password": PASSWORD})
    assert registered.status == 303, registered.text
    assert follow_mail(person, store, ANNA, "confirmation").status == 303

    reviewer = browser(app)
    assert sign_in(reviewer, "pim", REVIEWER, PASSWORD).status == 303
    assert reviewer.get("/me").text == REVIEWER  # the reviewer is the app's user too
    with app.app_context():
        account = quickstart.onboardkit.onboarding.store.atomic(
            lambda tx: tx.account_by_email("pim", ANNA)
        )
        assert quickstart.find_user(account) is None  # not before the approval
    assert reviewer.get(f"/onboarding/pim/review/{account.id}").status == 200
    approved = reviewer.submit(action="/approve")
    assert approved.status == 303, approved.text

    with app.app_context():
        user = quickstart.find_user(account)
        assert user is not None
        assert user.email == ANNA
    assert person.get("/me").text == "anonymous"
    assert sign_in(person, "pim", ANNA, PASSWORD).status == 303
    assert person.get("/me").text == ANNA
    assert "onboardkit_session" not in person.cookies  # Flask's session keeps the sign-in
