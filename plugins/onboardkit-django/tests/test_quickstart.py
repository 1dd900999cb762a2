"""The quickstart of docs/django.md works as written: a fresh ``django-admin startproject``, exactly
the doc's lines, ``manage.py migrate``, then register, confirm, approve (``manage.py onboardkit``)
and sign in through Django's test client until ``request.user`` is the approved person."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "django.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SECRET = "quickstart-test-secret-not-for-production-0123456789"

#: Runs inside the new project: the flows through Django's test client, as a browser would.
DRIVER = textwrap.dedent(
    """
    import json, subprocess, sys
    import django
    django.setup()
    from django.contrib.auth import get_user
    from django.contrib.sessions.backends.db import SessionStore
    from django.http import HttpRequest
    from onboardkit.testing import Browser
    from onboardkit.testing.browser import follow_mail, sign_in
    from onboardkit_django.service import service
    from onboardkit_django.testing import DjangoClientTransport

    email, password = "ada@example.com", "Tundra-Violet-Harbor-93"
    browser = Browser(DjangoClientTransport(), base_url="http://localhost:8000", root="/onboarding")
    browser.get(browser.url("/pim/register"))
    answer = browser.post(browser.url("/pim/register"), {"email": email, "password": password})
    assert answer.status == 303, answer.text
    confirmed = follow_mail(browser, service().onboarding.store, email, "confirmation")
    assert confirmed.status == 303, confirmed.text

    def manage(*args):
        done = subprocess.run(
            [sys.executable, "manage.py", "onboardkit", *args],
            capture_output=True, text=True, check=True,
        )
        return done.stdout

    pending = json.loads(manage("pending", "--json"))
    account_id = next(row["id"] for row in pending if row["email"] == email)
    manage("approve", account_id, "--role", "editor", "--reviewer", "review@pim.example.com")

    signed_in = sign_in(browser, "pim", email, password)
    assert signed_in.status == 303, signed_in.text
    request = HttpRequest()  # what AuthenticationMiddleware makes request.user from
    request.session = SessionStore(session_key=browser.cookies["sessionid"])
    user = get_user(request)
    print(json.dumps({
        "authenticated": user.is_authenticated,
        "email": user.email,
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "usable_password": user.has_usable_password(),
        "account_id": account_id,
        "username": user.get_username(),
    }))
    """
)


def quickstart_blocks() -> dict[str, str]:
    """The quickstart's code blocks by the file their first line names (``# mysite/urls.py``)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, str] = {}
    for language, body in FENCE.findall(section):
        first, _, rest = body.partition("\n")
        if language in ("python", "toml") and first.startswith("# "):
            blocks[first[2:].strip()] = rest
    return blocks


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    # Our own interpreter and manage.py, with fixed arguments.
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_doc_has_the_three_files_in_at_most_ten_lines() -> None:
    blocks = quickstart_blocks()
    assert set(blocks) == {"mysite/settings.py", "mysite/urls.py", "onboardkit.toml"}
    python_lines = [
        line
        for name in ("mysite/settings.py", "mysite/urls.py")
        for line in blocks[name].splitlines()
        if line.strip()
    ]
    assert len(python_lines) <= 10


def test_a_fresh_project_with_the_quickstarts_lines_signs_the_approved_person_in(
    tmp_path: Path,
) -> None:
    blocks = quickstart_blocks()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "ONBOARDKIT_"))
    }
    env["ONBOARDKIT_SECRET_KEY"] = SECRET
    env["PYTHONPATH"] = str(tmp_path)
    run([sys.executable, "-m", "django", "startproject", "mysite", "."], tmp_path, env)
    for name in ("mysite/settings.py", "mysite/urls.py"):
        with (tmp_path / name).open("a", encoding="utf-8") as file:
            file.write("\n" + blocks[name])
    (tmp_path / "onboardkit.toml").write_text(blocks["onboardkit.toml"], encoding="utf-8")

    run([sys.executable, "manage.py", "migrate"], tmp_path, env)
    env["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
    (tmp_path / "driver.py").write_text(DRIVER, encoding="utf-8")
    seen = json.loads(run([sys.executable, "driver.py"], tmp_path, env).strip().splitlines()[-1])

    assert seen == {
        "authenticated": True,
        "email": "ada@example.com",
        "groups": ["editor"],
        "usable_password": False,
        "account_id": seen["account_id"],
        "username": f"pim.{seen['account_id']}",
    }
