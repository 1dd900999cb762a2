"""The operator commands run by a framework's command runner, on a deployment the framework built.

A Django or Flask host builds the onboarding service over its own store and mail and hands it to
``onboardkit.cli.main`` as a :class:`~onboardkit.deployment.Deployment`. Every command test runs
twice: over the SQL store, and over a store that is not one (it has ``atomic`` and nothing else),
as a Django ORM store will be. The runners themselves are stood in for by a click group (what
``flask`` is) and an ``argparse.REMAINDER`` command (what ``manage.py`` does).
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any, TypeVar

import click
import pytest
from click.testing import CliRunner

from onboarding_helpers import STRONG, latest_token, mails, registration_form, service
from onboardkit.cli import main
from onboardkit.deployment import Deployment
from onboardkit.keys import load_key_ring
from onboardkit.onboarding import Onboarding
from onboardkit.sqlstore import SqlStore
from onboardkit.storage import Store, Transaction
from onboardkit.testing import FrozenClock, memory_store
from onboardkit.tokens import TokenSigner

T = TypeVar("T")

PROG = "manage.py onboardkit"
REVIEWER = "review@pim.example.com"


class OnlyAtomic:
    """A store that is not a ``SqlStore``: it keeps the ``Store`` contract (``atomic``) and
    offers nothing else, as a Django ORM store will."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def atomic(self, step: Callable[[Transaction], T], *, attempts: int = 5) -> T:
        return self._inner.atomic(step, attempts=attempts)


class Outgoing:
    """The framework's mail: a transport that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def sql_store() -> Iterator[SqlStore]:
    store = memory_store()
    yield store
    store.dispose()


@pytest.fixture(params=["sql store", "not a sql store"])
def store(request: pytest.FixtureRequest, sql_store: SqlStore) -> Store:
    return sql_store if request.param == "sql store" else OnlyAtomic(sql_store)


@pytest.fixture
def onboarding(store: Store, clock: FrozenClock) -> Iterator[Onboarding]:
    with service(store, clock) as built:
        yield built


@pytest.fixture
def outgoing() -> Outgoing:
    return Outgoing()


@pytest.fixture
def deployment(onboarding: Onboarding, outgoing: Outgoing) -> Deployment:
    return Deployment(onboarding, transport=outgoing, migrate_with="python manage.py migrate")


class Run:
    """``manage.py onboardkit ARGS`` on the deployment: its exit code, output and errors."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.code = 0
        self.out = ""
        self.err = ""

    def __call__(self, *args: str, stdin: str = "") -> Run:
        out, err = io.StringIO(), io.StringIO()
        self.code = main(
            list(args),
            deployment=self.deployment,
            prog=PROG,
            environ={},
            stdout=out,
            stderr=err,
            stdin=io.StringIO(stdin),
        )
        self.out, self.err = out.getvalue(), err.getvalue()
        assert "Traceback" not in self.out + self.err
        return self

    def json(self, *args: str) -> Any:
        assert self(*args, "--json").code == 0, self.err
        return json.loads(self.out)


@pytest.fixture
def run(deployment: Deployment) -> Run:
    return Run(deployment)


def registered_for_review(onboarding: Onboarding, email: str = "anna@example.com") -> str:
    onboarding.register("pim", registration_form(email), client_address="192.0.2.10")
    return onboarding.confirm(latest_token(onboarding.store, email, "confirmation")).id


# -- review ------------------------------------------------------------------------------------


def test_pending_lists_a_registration_the_framework_s_service_took(
    run: Run, onboarding: Onboarding
):
    account_id = registered_for_review(onboarding)
    assert [item["id"] for item in run.json("pending")] == [account_id]
    assert run("pending", "--tenant", "pim").code == 0
    assert account_id in run.out
    assert "Anna Berg" in run.out


def test_show_approve_and_reject_work_on_the_given_service(run: Run, onboarding: Onboarding):
    anna = registered_for_review(onboarding)
    otto = registered_for_review(onboarding, "otto@example.com")
    assert run("show", anna).code == 0
    assert "pending_review" in run.out
    assert run("approve", anna, "--role", "editor", "--reviewer", REVIEWER).code == 0, run.err
    assert run("reject", otto, "--reason", "Unknown customer.", "--reviewer", REVIEWER).code == 0
    assert onboarding.account("pim", anna).roles == ("editor",)
    assert onboarding.account("pim", otto).rejection_reason == "Unknown customer."
    assert run.json("pending") == []


def test_an_unknown_account_is_refused_with_exit_1(run: Run):
    assert run("show", "0" * 32).code == 1
    assert run.err.startswith("error: account.not_found:")


# -- invitations, accounts, partner codes ------------------------------------------------------


def test_invite_puts_the_invitation_into_the_service_s_outbox(run: Run, onboarding: Onboarding):
    invite = ("invite", "paula@example.de", "--tenant", "collab", "--role", "broker")
    assert run(*invite, "--invited-by", "broker@example.de").code == 0, run.err
    assert [mail.kind for mail in mails(onboarding.store, "paula@example.de")] == ["invitation"]
    assert run("resend", "paula@example.de", "--tenant", "collab").code == 0, run.err
    assert len(mails(onboarding.store, "paula@example.de", "invitation")) == 2


def test_account_create_reads_the_password_from_the_given_stdin(run: Run, onboarding: Onboarding):
    create = ("account", "create", REVIEWER, "--tenant", "pim", "--created-by", "setup")
    assert run(*create, "--password-stdin", stdin=STRONG + "\n").code == 0, run.err
    assert onboarding.authenticate("pim", REVIEWER, STRONG).status.value == "active"


def test_partner_create_issues_a_code_the_service_resolves(run: Run, onboarding: Onboarding):
    created = run.json("partner", "create", "--tenant", "shop", "--name", "Acme Devices GmbH")
    assert onboarding.partner_codes.resolve("shop", created["code"]).name == "Acme Devices GmbH"


# -- mail, keys, personal data, purge ----------------------------------------------------------


def test_outbox_deliver_sends_with_the_deployment_s_transport(
    run: Run, onboarding: Onboarding, outgoing: Outgoing
):
    onboarding.invite("collab", "paula@example.de", roles=(), invited_by="broker@example.de")
    assert run.json("outbox", "deliver") == {"sent": 1, "failed": 0, "gave_up": 0}
    [sent] = outgoing.sent
    assert sent["To"] == "paula@example.de"
    assert sent["From"].addresses[0].addr_spec == "no-reply@collab.example.com"
    assert sent["From"].addresses[0].display_name == "collaboration"
    assert run.json("outbox", "deliver", "--once") == {"sent": 0, "failed": 0, "gave_up": 0}


def test_keys_rotate_adds_a_key_the_service_signs_with(
    run: Run, onboarding: Onboarding, clock: FrozenClock
):
    old_kid = load_key_ring(onboarding.store).signing_key.kid
    assert run("keys", "rotate", "--keep", "2").code == 0, run.err
    new_kid = run.out.strip()
    ring = load_key_ring(onboarding.store)
    assert ring.kids == (new_kid, old_kid)
    clock.advance(3600)  # past the key refresh: the running service sees the rotation
    onboarding.invite("collab", "paula@example.de", roles=(), invited_by="broker@example.de")
    link = latest_token(onboarding.store, "paula@example.de", "invitation")
    assert TokenSigner(ring, clock=clock).peek(link, "invite").kid == new_kid


def test_consents_export_and_erase_keep_the_proof(run: Run, onboarding: Onboarding):
    account_id = registered_for_review(onboarding)
    assert run("erase", account_id, "--tenant", "pim").code == 2
    assert "cli.erase_needs_yes" in run.err
    assert run("erase", account_id, "--tenant", "pim", "--yes").code == 0, run.err
    assert run("show", account_id).code == 1
    assert run("consents", "export", account_id, "--tenant", "pim").code == 0, run.err
    assert {record["purpose"] for record in json.loads(run.out)["records"]} == {"privacy"}


def test_purge_deletes_expired_invitations(run: Run, onboarding: Onboarding, clock: FrozenClock):
    onboarding.invite("collab", "paula@example.de", roles=(), invited_by="broker@example.de")
    assert run.json("purge") == {"accounts": 0, "mails": 0, "rate_limits": 0}
    clock.advance(30 * 86_400)
    assert run.json("purge")["accounts"] == 1


def test_config_validate_summarizes_the_given_deployment(run: Run, store: Store):
    summary = run.json("config", "validate")
    assert summary["tenants"] == ["pim", "dam", "collab", "shop"]
    assert summary["mail_transport"] == "Outgoing"
    assert summary["source"] is None
    assert summary["database"] == ("sqlite://" if isinstance(store, SqlStore) else "OnlyAtomic")


def test_the_given_deployment_stays_open_between_commands(run: Run, onboarding: Onboarding):
    # The host owns its store: a memory store that was disposed of would have lost the invitation.
    invite = ("invite", "paula@example.de", "--tenant", "collab", "--invited-by", "b@example.de")
    assert run(*invite).code == 0
    assert run("resend", "paula@example.de", "--tenant", "collab").code == 0, run.err
    assert onboarding.partner_registry.create("shop", "Still open")[1]


# -- migrate -----------------------------------------------------------------------------------


def test_migrate_brings_a_sql_store_s_tables_up_to_date(clock: FrozenClock):
    store = SqlStore.from_url("sqlite://")
    try:
        with service(store, clock) as onboarding:
            assert store.schema_revision() is None
            run = Run(Deployment(onboarding))
            assert run("migrate").code == 0, run.err
            revision = store.schema_revision()
    finally:
        store.dispose()
    assert revision is not None
    assert run.out == f"sqlite:// is at revision {revision}.\n"


def test_db_upgrade_migrates_as_flask_migrate_says_it(clock: FrozenClock):
    store = SqlStore.from_url("sqlite://")
    try:
        with service(store, clock) as onboarding:
            run = Run(Deployment(onboarding))
            assert run("db", "upgrade").code == 0, run.err
            revision = store.schema_revision()
    finally:
        store.dispose()
    assert revision is not None
    assert run.out == f"sqlite:// is at revision {revision}.\n"


def test_migrate_names_the_framework_s_command_when_onboardkit_does_not_migrate(
    sql_store: SqlStore, clock: FrozenClock
):
    with service(OnlyAtomic(sql_store), clock) as onboarding:
        run = Run(Deployment(onboarding, migrate_with="python manage.py migrate"))
        assert run("migrate").code == 2
        assert run.err == (
            "error: deployment.migrations_elsewhere: onboardkit does not migrate the tables of "
            "this deployment; run python manage.py migrate instead.\n"
        )
        assert run("migrate", "--locale", "de").code == 2
        assert "führen Sie stattdessen python manage.py migrate aus" in run.err


def test_migrate_without_a_command_says_the_framework_migrates(
    sql_store: SqlStore, clock: FrozenClock
):
    with service(OnlyAtomic(sql_store), clock) as onboarding:
        run = Run(Deployment(onboarding))
        assert run("migrate").code == 2
        assert run.err.startswith("error: deployment.migrations_of_the_framework:")


def test_a_sql_store_the_host_migrates_itself_is_not_migrated(
    sql_store: SqlStore, clock: FrozenClock
):
    # A Flask host whose own Alembic runs onboardkit's migrations too says so.
    with service(sql_store, clock) as onboarding:
        run = Run(Deployment(onboarding, migrations=None, migrate_with="flask db upgrade"))
        assert run("migrate").code == 2
        assert "run flask db upgrade instead" in run.err


def test_outbox_deliver_without_a_transport_or_settings_names_what_is_missing(
    sql_store: SqlStore, clock: FrozenClock
):
    with service(OnlyAtomic(sql_store), clock) as onboarding:
        run = Run(Deployment(onboarding))
        assert run("outbox", "deliver").code == 2
        assert run.err.startswith("error: config.invalid: The setting Deployment.transport")


# -- the runner's program name and options -----------------------------------------------------


def test_help_shows_the_runner_s_program_name(run: Run):
    assert run("pending", "--help").code == 0
    assert run.out.startswith(f"usage: {PROG} pending [-h]")
    assert run("--help").code == 0
    assert run.out.startswith(f"usage: {PROG} [-h]")


def test_a_given_deployment_takes_no_settings_file_options(run: Run):
    assert "--config" not in run("--help").out
    assert run("pending", "--config", "onboardkit.toml").code == 2
    assert run.err.startswith(f"usage: {PROG}")
    assert "unrecognized arguments: --config onboardkit.toml" in run.err
    assert run("pending", "--database", "sqlite://").code == 2
    assert run("config", "validate", "onboardkit.toml").code == 2


def test_a_usage_error_goes_to_the_given_stream_with_exit_2(run: Run):
    assert run("approve").code == 2
    assert "the following arguments are required" in run.err
    assert run.out == ""


# -- the runners -------------------------------------------------------------------------------


def flask_cli(deployment: Deployment) -> click.Group:
    """What a Flask plugin adds to ``app.cli``: one command forwarding its arguments."""

    @click.group()
    def flask() -> None:
        """Stands in for the ``flask`` command."""

    @flask.command(
        "onboardkit",
        context_settings={"ignore_unknown_options": True, "help_option_names": []},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def onboardkit_command(args: tuple[str, ...]) -> None:
        """Operate onboardkit (see flask onboardkit --help)."""
        raise click.exceptions.Exit(main(args, deployment=deployment, prog="flask onboardkit"))

    return flask


def test_a_click_command_forwards_its_arguments_to_the_commands(
    deployment: Deployment, onboarding: Onboarding
):
    account_id = registered_for_review(onboarding)
    flask = flask_cli(deployment)
    result = CliRunner().invoke(flask, ["onboardkit", "pending", "--tenant", "pim", "--json"])
    assert result.exit_code == 0, result.output
    assert [item["id"] for item in json.loads(result.output)] == [account_id]
    result = CliRunner().invoke(flask, ["onboardkit", "pending", "--help"])
    assert result.exit_code == 0
    assert result.output.startswith("usage: flask onboardkit pending")
    result = CliRunner().invoke(flask, ["onboardkit", "show", "0" * 32])
    assert result.exit_code == 1


class ManageCommand:
    """What a Django plugin's ``management/commands/onboardkit.py`` does, without Django: its
    parser takes the runner's own options and hands every other argument on
    (``argparse.REMAINDER``)."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER)

    def run_from_argv(self, argv: list[str]) -> int:
        parser = argparse.ArgumentParser(prog=f"{argv[0]} {argv[1]}", add_help=False)
        parser.add_argument("--verbosity", "-v", type=int, default=1)  # Django's own options
        self.add_arguments(parser)
        options = vars(parser.parse_args(argv[2:]))
        return self.handle(*options.pop("args"), **options)

    def handle(self, *args: str, **options: object) -> int:
        return main(
            list(args),
            deployment=self.deployment,
            prog="manage.py onboardkit",
            stdout=self.stdout,
            stderr=self.stderr,
        )


def test_an_argparse_remainder_command_forwards_its_arguments(
    deployment: Deployment, onboarding: Onboarding
):
    account_id = registered_for_review(onboarding)
    command = ManageCommand(deployment)
    argv = ["manage.py", "onboardkit", "pending", "--tenant", "pim", "--json"]
    assert command.run_from_argv(argv) == 0, command.stderr.getvalue()
    assert [item["id"] for item in json.loads(command.stdout.getvalue())] == [account_id]
    command = ManageCommand(deployment)
    assert command.run_from_argv(["manage.py", "onboardkit", "approve", "--help"]) == 0
    assert command.stdout.getvalue().startswith("usage: manage.py onboardkit approve")
