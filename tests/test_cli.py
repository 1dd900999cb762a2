"""The ``onboardkit`` command: operators' tasks on a SQLite file, in-process and as a program."""

from __future__ import annotations

import argparse
import io
import json
import os
import pty
import re
import secrets
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboardkit.cli import build_parser, format_table, main
from onboardkit.errors import TokenStaleState
from onboardkit.keys import load_key_ring
from onboardkit.onboarding import Onboarding
from onboardkit.settings import Settings, build_onboarding
from onboardkit.sqlstore import SqlStore
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.mail import LocalSmtpServer
from onboardkit.tokens import TokenSigner

SECRET = secrets.token_urlsafe(32)
PASSWORD = "correct horse battery staple 42"
TOKEN = re.compile(r"token=([A-Za-z0-9_-]+)")
ROOT = Path(__file__).parent.parent

TENANTS = """
[tenants.pim]
name = "PIM Portal"
base_url = "https://pim.example.com/onboarding"
sender = "no-reply@pim.example.com"
flows = ["registration"]
roles = ["viewer", "editor"]

[tenants.pim.review]
required = true
reviewers = ["review@pim.example.com"]

[tenants.pim.fields.customer_number]
type = "text"
label = "Customer number"
required = true
pattern = "[0-9]{7}"

[tenants.pim.fields.employee_number]
type = "integer"
label = "Employee number"
min_value = 1000

[tenants.pim.consent.purposes.privacy]
required = true
[[tenants.pim.consent.purposes.privacy.versions]]
version = "1"
[tenants.pim.consent.purposes.privacy.versions.locales.en]
title = "Privacy policy"
text = "We process your data to review your access."

[tenants.collab]
name = "collaboration"
base_url = "https://collab.example.de"
sender = "no-reply@collab.example.de"
default_locale = "de"
flows = ["invitation"]
roles = ["policyholder", "broker"]

[tenants.collab.passwords]
profile = "composition"

[tenants.iot]
name = "IoT Platform"
base_url = "https://iot.example.com"
sender = "no-reply@iot.example.com"
flows = ["signup", "invitation"]
default_user_type = "customer_admin"
partner_user_type = "partner_user"

[tenants.iot.user_types.customer_admin]
permissions = ["customer_account_admin"]

[tenants.iot.user_types.partner_user]
permissions = ["partner.portal"]

[tenants.iot.partners]
enabled = true
"""


def write_config(folder: Path, *, transport: str | None = None) -> Path:
    transport = transport or f'type = "folder"\npath = "{folder / "outgoing"}"'
    path = folder / "onboardkit.toml"
    path.write_text(
        f'database_url = "sqlite:///{folder / "onboarding.sqlite3"}"\n'
        f'secret_key = "{SECRET}"\n'
        f"[mail.transport]\n{transport}\n"
        f"{TENANTS}"
    )
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def onboarding(config: Path, clock: FrozenClock) -> Iterator[Onboarding]:
    """The same deployment through the Python API, for what a web page would do."""
    service = build_onboarding(
        Settings.from_toml(config, environ={}), plugins=make_plugins(), clock=clock
    )
    yield service
    service.close()
    assert isinstance(service.store, SqlStore)
    service.store.dispose()


class Run:
    def __init__(self, capsys: pytest.CaptureFixture[str], config: Path, clock: FrozenClock):
        self.capsys = capsys
        self.config = config
        self.clock = clock
        self.code = 0
        self.out = ""
        self.err = ""

    def __call__(self, *args: str, environ: dict[str, str] | None = None) -> Run:
        self.capsys.readouterr()
        self.code = main(
            ["--config", str(self.config), *args], environ=environ or {}, clock=self.clock
        )
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        assert "Traceback" not in self.out + self.err
        return self

    def json(self, *args: str) -> Any:
        assert self(*args, "--json").code == 0, self.err
        return json.loads(self.out)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], config: Path, clock: FrozenClock) -> Run:
    return Run(capsys, config, clock)


def mails(onboarding: Onboarding, tenant: str) -> list[Any]:
    return list(onboarding.store.atomic(lambda tx: tx.mails(tenant, limit=1000)))


def token_of(onboarding: Onboarding, tenant: str, kind: str, recipient: str) -> str:
    for mail in mails(onboarding, tenant):  # newest first
        if mail.kind == kind and mail.recipient == recipient:
            found = TOKEN.search(mail.text)
            assert found is not None
            return found.group(1)
    raise AssertionError(f"no {kind} mail to {recipient}")


def registered_for_review(onboarding: Onboarding, email: str = "anna@example.com") -> str:
    form = {
        "email": email,
        "password": PASSWORD,
        "given_name": "Anna",
        "family_name": "Muster",
        "fields.customer_number": "1234567",
        "fields.employee_number": "4711",
        "consents.privacy": "yes",
    }
    onboarding.register("pim", form, client_address="192.0.2.10", locale="en")
    return onboarding.confirm(token_of(onboarding, "pim", "confirmation", email)).id


# -- configuration and database --------------------------------------------------------------


def test_config_validate_summarizes_a_good_file(run: Run):
    assert run("config", "validate").code == 0
    assert "pim, collab, iot" in run.out
    assert SECRET not in run.out


def test_config_validate_takes_the_path_as_argument(run: Run, tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    path = write_config(other)
    assert run("config", "validate", str(path)).code == 0
    assert str(path) in run.out


def test_config_validate_names_the_exact_key_and_exits_2(run: Run, config: Path):
    config.write_text(config.read_text().replace("review@pim.example.com", "not-an-address"))
    assert run("config", "validate").code == 2
    assert "tenants.pim.review.reviewers[0]" in run.err
    assert run.err.startswith("error: config.invalid:")


def test_missing_configuration_file_is_a_usage_error(run: Run, tmp_path: Path):
    assert run("config", "validate", str(tmp_path / "missing.toml")).code == 2
    assert "missing.toml" in run.err


def test_migrate_brings_the_database_to_the_newest_revision(run: Run, tmp_path: Path):
    assert run("migrate").code == 0
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'onboarding.sqlite3'}")
    revision = store.schema_revision()
    store.dispose()
    assert revision is not None
    assert f"revision {revision}" in run.out


def test_database_option_wins_over_the_settings(run: Run, tmp_path: Path):
    assert run("--database", f"sqlite:///{tmp_path / 'elsewhere.db'}", "migrate").code == 0
    assert (tmp_path / "elsewhere.db").exists()
    assert "elsewhere.db" in run.out


def test_unreachable_database_is_reported_without_traceback_or_password(run: Run):
    url = "postgresql+psycopg://onboarding:pw-do-not-show@127.0.0.1:1/onboarding"
    assert run("--database", url, "migrate").code == 1
    assert "cli.database_unavailable" in run.err
    assert "pw-do-not-show" not in run.err


# -- review ----------------------------------------------------------------------------------


def test_pending_lists_confirmed_registrations_as_a_table(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    assert run("pending").code == 0
    header, row = run.out.splitlines()
    assert header.split() == ["ACCOUNT", "TENANT", "EMAIL", "NAME", "REGISTERED", "CONFIRMED"]
    assert row.startswith(account_id)
    assert "anna@example.com" in row
    assert "Anna Muster" in row


def test_pending_json_filters_by_tenant(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    assert [item["id"] for item in run.json("pending", "--tenant", "pim")] == [account_id]
    assert run.json("pending", "--tenant", "iot") == []
    assert run("pending", "--tenant", "nope").code == 1
    assert "tenant.unknown" in run.err


def test_approve_gives_roles_and_show_json_reports_them(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    assert (
        run(
            "approve",
            account_id,
            "--role",
            "viewer",
            "--role",
            "editor",
            "--reviewer",
            "review@pim.example.com",
        ).code
        == 0
    )
    shown = run.json("show", account_id)
    assert shown["status"] == "active"
    assert shown["roles"] == ["viewer", "editor"]
    assert shown["reviewed_by"] == "review@pim.example.com"
    assert shown["fields"] == {"customer_number": "1234567", "employee_number": 4711}
    assert "password_hash" not in shown
    assert shown["has_password"] is True
    assert "approved" in [mail.kind for mail in mails(onboarding, "pim")]
    assert run.json("pending") == []


def test_show_prints_the_account_as_text(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    assert run("show", account_id).code == 0
    assert re.search(r"^status:\s+pending_review$", run.out, re.MULTILINE)
    assert "customer_number: 1234567" in run.out
    assert "$argon2" not in run.out


def test_approve_with_an_unknown_role_is_refused_with_exit_1(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    result = run("approve", account_id, "--role", "admin", "--reviewer", "review@pim.example.com")
    assert result.code == 1
    assert "validation.failed" in run.err
    assert "onboarding.role_unknown" in run.err
    assert run.json("show", account_id)["status"] == "pending_review"


def test_approving_twice_is_an_invalid_transition(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    assert run("approve", account_id, "--reviewer", "review@pim.example.com").code == 0
    assert run("approve", account_id, "--reviewer", "review@pim.example.com").code == 1
    assert "account.invalid_transition" in run.err


def test_reject_records_the_reason_and_tells_the_applicant(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    reason = "We could not find customer number 1234567."
    assert (
        run("reject", account_id, "--reason", reason, "--reviewer", "review@pim.example.com").code
        == 0
    )
    shown = run.json("show", account_id)
    assert shown["status"] == "rejected"
    assert shown["rejection_reason"] == reason
    rejected = [mail for mail in mails(onboarding, "pim") if mail.kind == "rejected"]
    assert len(rejected) == 1
    assert reason in rejected[0].text


def test_reject_without_a_reason_is_a_usage_error(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    assert run("reject", account_id, "--reviewer", "review@pim.example.com").code == 2
    assert run.json("show", account_id)["status"] == "pending_review"


def test_show_of_an_unknown_account_is_refused(run: Run):
    assert run("show", "0" * 32).code == 1
    assert "account.not_found" in run.err


# -- invitations and resending ----------------------------------------------------------------


def test_invite_creates_an_invitation_with_its_mail(run: Run, onboarding: Onboarding):
    assert (
        run(
            "invite",
            "paula@example.de",
            "--tenant",
            "collab",
            "--role",
            "policyholder",
            "--invited-by",
            "broker@example.de",
        ).code
        == 0
    )
    invitation = [mail for mail in mails(onboarding, "collab") if mail.kind == "invitation"]
    assert [mail.recipient for mail in invitation] == ["paula@example.de"]
    account = onboarding.store.atomic(lambda tx: tx.account_by_email("collab", "paula@example.de"))
    assert account is not None
    shown = run.json("show", account.id, "--tenant", "collab")
    assert shown["status"] == "invited"
    assert shown["roles"] == ["policyholder"]
    assert shown["invited_by"] == "broker@example.de"


def test_resend_sends_a_new_invitation_and_the_old_link_goes_stale(
    run: Run, onboarding: Onboarding, clock: FrozenClock
):
    run("invite", "paula@example.de", "--tenant", "collab", "--invited-by", "broker@example.de")
    first = token_of(onboarding, "collab", "invitation", "paula@example.de")
    clock.advance(60)  # the outbox lists mail newest first
    assert run("resend", "paula@example.de", "--tenant", "collab").code == 0
    second = token_of(onboarding, "collab", "invitation", "paula@example.de")
    assert second != first
    assert onboarding.preview_invitation(second).status == "ready"
    with pytest.raises(TokenStaleState):
        onboarding.preview_invitation(first)


def test_resend_sends_a_new_confirmation(run: Run, onboarding: Onboarding):
    form = {"email": "otto@example.com", "password": PASSWORD, "consents.privacy": "yes"}
    form["fields.customer_number"] = "7654321"
    onboarding.register("pim", form, client_address=None, locale="en")
    assert run("resend", "otto@example.com", "--tenant", "pim").code == 0
    confirmations = [mail for mail in mails(onboarding, "pim") if mail.kind == "confirmation"]
    assert len(confirmations) == 2


def test_resend_for_an_address_without_pending_mail_is_refused(run: Run):
    assert run("resend", "nobody@example.com", "--tenant", "pim").code == 1
    assert "cli.nothing_to_resend" in run.err


# -- partner codes ----------------------------------------------------------------------------


def test_partner_create_shows_a_code_that_resolves(run: Run, onboarding: Onboarding, config: Path):
    created = run.json("partner", "create", "--tenant", "iot", "--name", "Acme Devices GmbH")
    partner = onboarding.partner_codes.resolve("iot", created["code"])
    assert partner.name == "Acme Devices GmbH"
    assert partner.id == created["partner_id"]
    database = (config.parent / "onboarding.sqlite3").read_bytes()
    assert created["code"].replace("-", "").encode() not in database
    assert created["code"].encode() not in database


def test_partner_create_as_text_shows_the_code_once_with_its_limits(
    run: Run, onboarding: Onboarding, clock: FrozenClock
):
    result = run(
        "partner", "create", "--tenant", "iot", "--name", "Acme", "--expires-in", "30",
        "--max-uses", "5",
    )  # fmt: skip
    assert result.code == 0
    code = re.search(r"^Code:\s+(\S+)$", run.out, re.MULTILINE)
    assert code is not None
    assert run.out.count(code.group(1)) == 1
    record = onboarding.partner_registry.inspect("iot", code.group(1))
    assert record is not None
    assert record.max_uses == 5
    assert record.expires_at == clock.now + 30 * 86_400


def test_partner_create_for_an_unknown_tenant_is_refused(run: Run):
    assert run("partner", "create", "--tenant", "nope", "--name", "Acme").code == 1
    assert "tenant.unknown" in run.err


# -- signing keys ----------------------------------------------------------------------------


def test_keys_rotate_changes_the_signing_kid_and_old_links_still_verify(
    run: Run, onboarding: Onboarding, clock: FrozenClock
):
    run("invite", "paula@example.de", "--tenant", "collab", "--invited-by", "broker@example.de")
    old_link = token_of(onboarding, "collab", "invitation", "paula@example.de")
    old_kid = load_key_ring(onboarding.store).signing_key.kid
    clock.advance(60)
    assert run("keys", "rotate").code == 0
    new_kid = run.out.strip()
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,32}", new_kid)
    assert new_kid != old_kid
    ring = load_key_ring(onboarding.store)
    assert ring.kids == (new_kid, old_kid)
    clock.advance(3600)  # past the key refresh: the running service sees the rotation
    assert onboarding.preview_invitation(old_link).status == "ready"
    run("invite", "karl@example.de", "--tenant", "collab", "--invited-by", "broker@example.de")
    new_link = token_of(onboarding, "collab", "invitation", "karl@example.de")
    assert TokenSigner(ring, clock=clock).peek(new_link, "invite").kid == new_kid


def test_keys_rotate_prints_only_the_key_id(run: Run, onboarding: Onboarding):
    assert run("keys", "rotate").code == 0
    rows = onboarding.store.atomic(lambda tx: list(tx.signing_keys()))
    assert run.out.strip() == rows[0].kid
    assert len(run.out.strip().splitlines()) == 1


# -- outbox ----------------------------------------------------------------------------------


def test_outbox_deliver_sends_through_a_real_smtp_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, clock: FrozenClock
):
    with LocalSmtpServer() as server:
        config = write_config(
            tmp_path, transport=f'type = "smtp"\nhost = "{server.host}"\nport = {server.port}\n'
            'security = "none"'
        )  # fmt: skip
        run = Run(capsys, config, clock)
        run("invite", "paula@example.de", "--tenant", "collab", "--invited-by", "b@example.de")
        assert run.json("outbox", "deliver", "--once") == {"sent": 1, "failed": 0, "gave_up": 0}
        received = server.wait_for(1)
    assert received[0].recipients == ("paula@example.de",)
    message = received[0].message
    assert message["From"].addresses[0].addr_spec == "no-reply@collab.example.de"
    assert message["From"].addresses[0].display_name == "collaboration"
    assert run.json("outbox", "deliver") == {"sent": 0, "failed": 0, "gave_up": 0}


def test_outbox_deliver_keeps_mail_when_the_server_is_down(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, clock: FrozenClock
):
    with LocalSmtpServer() as server:
        port = server.port
    config = write_config(
        tmp_path, transport=f'type = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"'
    )
    run = Run(capsys, config, clock)
    run("invite", "paula@example.de", "--tenant", "collab", "--invited-by", "b@example.de")
    assert run.json("outbox", "deliver") == {"sent": 0, "failed": 1, "gave_up": 0}


def test_outbox_deliver_without_a_transport_names_the_setting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, clock: FrozenClock
):
    config = write_config(tmp_path)
    config.write_text(re.sub(r"\[mail\.transport\]\n[^\[]*", "", config.read_text(), count=1))
    run = Run(capsys, config, clock)
    assert run("outbox", "deliver").code == 2
    assert "mail.transport" in run.err


# -- accounts made by an operator ------------------------------------------------------------

REVIEWER = "review@pim.example.com"


def create_reviewer(run: Run, monkeypatch: pytest.MonkeyPatch, *options: str, stdin: str) -> Run:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return run(
        "account", "create", REVIEWER, "--tenant", "pim", "--created-by", "setup", *options,
        "--password-stdin",
    )  # fmt: skip


def test_account_create_makes_an_active_account_that_can_sign_in(
    run: Run, monkeypatch: pytest.MonkeyPatch, onboarding: Onboarding
):
    options = ("--role", "editor", "--given-name", "Rita", "--json")
    created = create_reviewer(run, monkeypatch, *options, stdin=PASSWORD + "\n")
    assert created.code == 0, run.err
    account = json.loads(run.out)
    assert (account["status"], account["roles"], account["has_password"]) == (
        "active", ["editor"], True,
    )  # fmt: skip
    assert account["invited_by"] == "setup"
    assert account["profile"]["given_name"] == "Rita"
    assert PASSWORD not in run.out
    signed_in = onboarding.authenticate("pim", REVIEWER, PASSWORD)
    assert signed_in.id == account["id"]


def test_account_create_says_what_it_made_as_text(run: Run, monkeypatch: pytest.MonkeyPatch):
    assert create_reviewer(run, monkeypatch, stdin=PASSWORD).code == 0, run.err
    assert run.out.startswith("Created ")
    assert f"({REVIEWER}) in pim, active; roles: -." in run.out


def test_account_create_refuses_a_weak_password_and_creates_nothing(
    run: Run, monkeypatch: pytest.MonkeyPatch, onboarding: Onboarding
):
    assert create_reviewer(run, monkeypatch, stdin="short\n").code == 1
    assert run.err.startswith("error: validation.failed:")
    assert "  password: password.too_short:" in run.err
    assert onboarding.store.atomic(lambda tx: tx.account_by_email("pim", REVIEWER)) is None


def test_account_create_refuses_a_taken_address_and_an_unknown_role(
    run: Run, monkeypatch: pytest.MonkeyPatch
):
    assert create_reviewer(run, monkeypatch, stdin=PASSWORD).code == 0, run.err
    assert create_reviewer(run, monkeypatch, stdin=PASSWORD).code == 1
    assert "  email: account.exists:" in run.err
    other = ("--role", "admin")
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD))
    code = run("account", "create", "x@pim.example.com", "--tenant", "pim", "--created-by", "s",
               *other, "--password-stdin").code  # fmt: skip
    assert code == 1
    assert "  roles[0]: onboarding.role_unknown:" in run.err


def test_account_create_without_a_terminal_or_password_stdin_is_a_usage_error(
    run: Run, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD))
    assert run("account", "create", REVIEWER, "--tenant", "pim", "--created-by", "s").code == 2
    assert "cli.password_needs_input" in run.err
    assert "--password-stdin" in run.err
    assert run("--locale", "de", "account", "create", REVIEWER, "--tenant", "pim",
               "--created-by", "s").code == 2  # fmt: skip
    assert "Standardeingabe" in run.err


def _create_reviewer_argv(config: Path) -> list[str]:
    """The console script creating the pim reviewer, asking for the password."""
    script = str(Path(sys.executable).parent / "onboardkit")
    return [script, "--config", str(config), "account", "create", REVIEWER, "--tenant", "pim",
            "--created-by", "setup"]  # fmt: skip


def _in_a_terminal(argv: list[str], answers: list[str]) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as its controlling terminal, typing each answer once
    its prompt (a line ending in ``": "``) is complete; its exit code and what it wrote there."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: its standard streams and /dev/tty are the pseudo-terminal
        try:
            os.execve(argv[0], argv, _program_environ())  # noqa: S606 (our own console script)
        finally:
            os._exit(127)  # never run on in a copy of the test process
    written = b""
    answered = 0
    try:
        while True:
            ready, _, _ = select.select([terminal], [], [], 60)
            if not ready:
                raise AssertionError(f"no output for 60 s; so far: {written!r}")
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the child closed the terminal (Linux reports EIO)
                break
            if not chunk:
                break
            written += chunk
            # getpass flushes typed-ahead input before each prompt, so answer only a prompt
            # that is complete and not answered yet.
            prompts = written.count(b"Password")
            if answered < min(prompts, len(answers)) and written.endswith(b": "):
                os.write(terminal, answers[answered].encode() + b"\n")
                answered += 1
    finally:
        deadline = time.monotonic() + 30
        done, status = os.waitpid(pid, os.WNOHANG)
        while not done and time.monotonic() < deadline:
            time.sleep(0.01)
            done, status = os.waitpid(pid, os.WNOHANG)
        if not done:  # it hangs: end it, so the test fails rather than waits forever
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(terminal)
    return os.waitstatus_to_exitcode(status), written.decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX only")
def test_account_create_asks_twice_at_a_terminal_and_never_echoes(
    config: Path, onboarding: Onboarding
):
    code, written = _in_a_terminal(_create_reviewer_argv(config), [PASSWORD, PASSWORD])
    assert code == 0, written
    assert "Password (again):" in written
    assert PASSWORD not in written
    assert onboarding.authenticate("pim", REVIEWER, PASSWORD).status.value == "active"


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX only")
def test_account_create_at_a_terminal_refuses_two_different_passwords(
    config: Path, onboarding: Onboarding
):
    code, written = _in_a_terminal(_create_reviewer_argv(config), [PASSWORD, PASSWORD + "!"])
    assert code == 2, written
    assert "cli.passwords_differ" in written
    assert onboarding.store.atomic(lambda tx: tx.account_by_email("pim", REVIEWER)) is None


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX only")
def test_account_create_at_a_terminal_stops_on_ctrl_d_without_a_traceback(
    config: Path, onboarding: Onboarding
):
    code, written = _in_a_terminal(_create_reviewer_argv(config), ["\x04"])
    assert code == 130, written
    assert "Traceback" not in written
    assert onboarding.store.atomic(lambda tx: tx.account_by_email("pim", REVIEWER)) is None


# -- consents, erasure, purge ----------------------------------------------------------------


def test_consents_export_is_json_with_the_double_opt_in(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    assert run("consents", "export", account_id, "--tenant", "pim").code == 0
    exported = json.loads(run.out)
    assert exported["tenant"] == "pim"
    assert exported["consents"]["privacy"]["method"] == "double_opt_in"


def test_erase_without_yes_changes_nothing(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    assert run("erase", account_id, "--tenant", "pim").code == 2
    assert "cli.erase_needs_yes" in run.err
    assert run("show", account_id).code == 0


def test_erase_deletes_the_account_and_keeps_the_consent_proof(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    assert run("erase", account_id, "--tenant", "pim", "--yes").code == 0
    assert run("show", account_id).code == 1
    assert "account.not_found" in run.err
    proof = json.loads(run("consents", "export", account_id, "--tenant", "pim").out)
    assert proof["records"]


def test_erase_in_another_tenant_is_refused(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    assert run("erase", account_id, "--tenant", "iot", "--yes").code == 1
    assert run("show", account_id).code == 0


def test_purge_reports_what_it_removed(run: Run, clock: FrozenClock):
    run("invite", "paula@example.de", "--tenant", "collab", "--invited-by", "b@example.de")
    assert run.json("purge") == {"accounts": 0, "mails": 0, "rate_limits": 0}
    clock.advance(30 * 86_400)
    assert run.json("purge")["accounts"] == 1
    assert run("purge").code == 0
    assert run.out.split()[:2] == ["PURGED", "COUNT"]


# -- the interface itself ----------------------------------------------------------------------


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name)
                yield from _commands(sub, (*path, name))


ALL_COMMANDS = list(_commands(build_parser()))


def test_every_expected_command_exists():
    expected = {
        ("pending",), ("show",), ("approve",), ("reject",), ("invite",), ("partner", "create"),
        ("resend",), ("consents", "export"), ("erase",), ("purge",), ("outbox", "deliver"),
        ("keys", "rotate"), ("config", "validate"), ("migrate",), ("db", "upgrade"),
        ("account", "create"),
    }  # fmt: skip
    assert expected <= set(ALL_COMMANDS)


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=" ".join)
def test_every_command_has_help(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]):
    assert main([*command, "--help"], environ={}) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: onboardkit {' '.join(command)}")


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    assert main([], environ={}) == 2
    assert "usage:" in capsys.readouterr().err


def test_global_options_work_after_the_command(run: Run, capsys: pytest.CaptureFixture[str]):
    code = main(["show", "0" * 32, "--config", str(run.config), "--locale", "de"], environ={})
    assert code == 1
    assert capsys.readouterr().err.startswith("Fehler: account.not_found: Dieses Konto")


def test_errors_follow_lang_when_no_locale_is_given(run: Run):
    assert run("show", "0" * 32, environ={"LANG": "de_DE.UTF-8"}).code == 1
    assert run.err.startswith("Fehler: account.not_found:")
    assert run("show", "0" * 32, environ={"LANG": "C.UTF-8"}).code == 1
    assert run.err.startswith("error: account.not_found: This account does not exist.")


def test_configuration_errors_are_localized(run: Run, config: Path):
    config.write_text(config.read_text().replace(SECRET, "short"))
    assert run("--locale", "de", "config", "validate").code == 2
    assert "mindestens 32 Zeichen" in run.err


def test_table_cells_cannot_drive_the_terminal():
    table = format_table(("NAME",), [("Anna\x1b[31m red",), ("\u202eevil",), ("ok",)])
    assert "\x1b" not in table
    assert "\u202e" not in table
    assert "\\u001b[31m red" in table


_WORDS = st.sampled_from(
    [name for command in ALL_COMMANDS for name in command]
    + ["--json", "--tenant", "--role", "--yes", "--once", "--loop", "--limit", "-1", "x", "--"]
)


@given(st.lists(_WORDS | st.text(max_size=12), max_size=6))
def test_any_arguments_end_in_an_exit_code_never_a_traceback(argv: list[str]):
    # The configuration does not exist: every command that gets past parsing stops at it.
    environ = {"ONBOARDKIT_CONFIG": "/nonexistent/onboardkit.toml"}
    argv = [word for word in argv if word not in ("--config", "--database")]
    assert main(argv, environ=environ) in (0, 1, 2)


# -- as a program ------------------------------------------------------------------------------


def _program_environ() -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("ONBOARDKIT")}
    environ["LANG"] = "C.UTF-8"
    return environ


def test_python_m_onboardkit_runs_the_command(config: Path):
    result = subprocess.run(
        [sys.executable, "-m", "onboardkit", "--config", str(config), "config", "validate"],
        capture_output=True,
        text=True,
        env=_program_environ(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "pim, collab, iot" in result.stdout


def test_console_script_reports_a_bad_configuration_with_exit_2(config: Path):
    config.write_text(config.read_text().replace('roles = ["viewer", "editor"]', "roles = 7"))
    script = Path(sys.executable).parent / "onboardkit"
    result = subprocess.run(
        [str(script), "--config", str(config), "pending"],
        capture_output=True,
        text=True,
        env=_program_environ(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "tenants.pim.roles" in result.stderr
    assert "Traceback" not in result.stderr


def test_console_script_approves_a_registration(config: Path, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    script = Path(sys.executable).parent / "onboardkit"
    base = [str(script), "--config", str(config)]
    environ = _program_environ()
    approve = [*base, "approve", account_id, "--role", "editor", "--reviewer", "r@example.com"]
    result = subprocess.run(
        approve, capture_output=True, text=True, env=environ, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    shown = subprocess.run(
        [*base, "show", account_id, "--json"],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=True,
    )
    assert json.loads(shown.stdout)["roles"] == ["editor"]


def test_outbox_deliver_loop_sends_until_terminated(tmp_path: Path):
    with LocalSmtpServer() as server:
        config = write_config(
            tmp_path,
            transport=f'type = "smtp"\nhost = "{server.host}"\nport = {server.port}\n'
            'security = "none"',
        )
        config.write_text(config.read_text() + "\n[mail.outbox]\nidle_sleep = 0.05\n")
        base = [sys.executable, "-m", "onboardkit", "--config", str(config)]
        environ = _program_environ()
        subprocess.run(
            [*base, "invite", "p@example.de", "--tenant", "collab", "--invited-by", "b@example.de"],
            env=environ,
            timeout=120,
            check=True,
            capture_output=True,
        )
        worker = subprocess.Popen(
            [*base, "outbox", "deliver", "--loop", "--json"],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert len(server.wait_for(1, timeout=60)) == 1
        finally:
            worker.send_signal(signal.SIGTERM)
            out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert json.loads(out) == {"sent": 1, "failed": 0, "gave_up": 0}
