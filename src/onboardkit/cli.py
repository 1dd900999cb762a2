"""The ``onboardkit`` command: what operators do by hand, on the embedded default or a SQL server.

Every command reads the deployment's settings (``--config PATH``, else ``ONBOARDKIT_CONFIG``,
else ``onboardkit.toml`` in the current folder; see :mod:`onboardkit.settings`) and works through
the same core as the web application, so a review in the terminal writes the same records and
mails as one in a browser. A framework's command runner (``manage.py``, ``flask``) runs the same
commands on the deployment it built instead: ``main(argv, deployment=..., prog=...)`` (see
:mod:`onboardkit.deployment`)::

    onboardkit account create review@example.com --tenant pim --created-by setup
    onboardkit pending
    onboardkit approve 3f2a... --role editor --reviewer review@example.com
    onboardkit outbox deliver --loop

Exit codes: 0 done; 1 the operation was refused (an onboardkit error: its code and message are
printed, in the language of ``--locale`` or ``LANG``); 2 a usage or configuration error. An
expected error never prints a traceback. Secrets are never printed, with one exception: a new
partner code is shown once, when it is created. Values people typed (names, fields) are printed
with control characters escaped, so they cannot drive the operator's terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import signal
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import attrs
import sqlalchemy as sa

from onboardkit import __version__
from onboardkit.accounts import Account, AccountStatus
from onboardkit.addresses import parse_email
from onboardkit.clock import Clock, system_clock
from onboardkit.deployment import Deployment, MigrationsElsewhere
from onboardkit.errors import ConfigurationError, OnboardkitError, ValidationError, message
from onboardkit.i18n import normalize_locale
from onboardkit.onboarding import AccountNotFound
from onboardkit.settings import (
    Settings,
    build_onboarding,
    build_plugins,
    build_store,
    build_transport,
    check_database_url,
    redacted_url,
)

if TYPE_CHECKING:
    from onboardkit.sqlstore import SqlStore
    from onboardkit.tenants import Tenants

__all__ = ["Deployment", "build_parser", "main"]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

DAY = 86_400
_MAX_ID_LENGTH = 64
_MAX_LIST = 1000

NOTHING_TO_RESEND = message(
    "cli.nothing_to_resend",
    "There is no pending confirmation, invitation or activation for this address in {tenant}.",
)
ERASE_NEEDS_YES = message(
    "cli.erase_needs_yes",
    "Erasing deletes the account for good. Repeat the command with --yes to do it.",
)
DATABASE_UNAVAILABLE = message("cli.database_unavailable", "The database cannot be used: {detail}")
ERROR_PREFIX = message("cli.error", "error")
PASSWORD_NEEDS_INPUT = message(
    "cli.password_needs_input",
    "Give the password on standard input with --password-stdin, or run the command in a "
    "terminal to be asked for it.",
)
PASSWORDS_DIFFER = message("cli.passwords_differ", "The two passwords you typed differ.")


class NothingToResend(OnboardkitError):
    """The address has no link-carrying mail that could be sent again."""

    default_message = NOTHING_TO_RESEND


class _UsageError(Exception):
    """A usage problem found after parsing (exit 2), with an onboardkit message."""

    def __init__(self, error: OnboardkitError) -> None:
        super().__init__(error.message)
        self.error = error


class _EraseNotConfirmed(OnboardkitError):
    default_message = ERASE_NEEDS_YES


class _DatabaseUnavailable(OnboardkitError):
    default_message = DATABASE_UNAVAILABLE


class _PasswordNeedsInput(OnboardkitError):
    default_message = PASSWORD_NEEDS_INPUT


class _PasswordsDiffer(OnboardkitError):
    default_message = PASSWORDS_DIFFER


# -- output ------------------------------------------------------------------------------------


def _safe(value: object) -> str:
    """Text for a terminal: control and format characters (ESC, CSI, bidi overrides) escaped."""
    text = "" if value is None else str(value)
    return "".join(
        char
        if char == " " or unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp")
        else f"\\u{ord(char):04x}"
        for char in text
    )


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Aligned plain-text columns, two spaces apart, headers first."""
    cells = [[_safe(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, value in enumerate(row):
            widths[index] = max(widths[index], len(value))
    lines = [
        "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        for line in [list(headers), *cells]
    ]
    return "\n".join(lines)


def _json_default(value: object) -> object:
    if attrs.has(type(value)):
        return attrs.asdict(value)  # type: ignore[arg-type]
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "value"):
        return value.value
    return str(value)


def _dump(data: object) -> str:
    # ensure_ascii: no raw C1 control character or bidi override ever reaches the terminal.
    return json.dumps(data, indent=2, sort_keys=True, default=_json_default, ensure_ascii=True)


def account_as_dict(account: Account) -> dict[str, Any]:
    """An account for JSON output: everything but the password hash (only whether one is set)."""
    return {
        "id": account.id,
        "tenant": account.tenant,
        "flow": account.flow.value,
        "status": account.status.value,
        "email": account.email,
        "canonical_email": account.canonical_email,
        "locale": account.locale,
        "has_password": account.password_hash is not None,
        "profile": dict(account.profile),
        "fields": dict(account.fields),
        "user_type": account.user_type,
        "roles": list(account.roles),
        "organization_id": account.organization_id,
        "partner": dict(account.partner) if account.partner is not None else None,
        "invited_by": account.invited_by,
        "reviewed_by": account.reviewed_by,
        "rejection_reason": account.rejection_reason,
        "created_at": _iso(account.created_at),
        "updated_at": _iso(account.updated_at),
        "confirmed_at": _iso(account.confirmed_at),
        "decided_at": _iso(account.decided_at),
        "expires_at": _iso(account.expires_at),
        "version": account.version,
    }


def _name(account: Account) -> str:
    parts = [account.profile.get("given_name"), account.profile.get("family_name")]
    return " ".join(str(part) for part in parts if part)


def _describe_account(account: Account) -> str:
    data = account_as_dict(account)
    lines = []
    for name in (
        "id",
        "tenant",
        "flow",
        "status",
        "email",
        "locale",
        "has_password",
        "user_type",
        "roles",
        "organization_id",
        "invited_by",
        "reviewed_by",
        "rejection_reason",
    ):
        value = data[name]
        if name == "roles":
            value = ", ".join(value) or "-"
        lines.append(f"{name + ':':<18}{_safe(value if value is not None else '-')}")
    for name in ("created_at", "updated_at", "confirmed_at", "decided_at", "expires_at"):
        lines.append(f"{name + ':':<18}{_when(getattr(account, name))}")
    if account.profile:
        lines.append("profile:")
        lines.extend(f"  {_safe(key)}: {_safe(value)}" for key, value in account.profile.items())
    if account.fields:
        lines.append("fields:")
        lines.extend(f"  {_safe(key)}: {_safe(value)}" for key, value in account.fields.items())
    if account.partner:
        lines.append("partner:")
        lines.extend(f"  {_safe(key)}: {_safe(value)}" for key, value in account.partner.items())
    return "\n".join(lines)


# -- the deployment ---------------------------------------------------------------------------


@attrs.frozen
class _Summary:
    """What ``config validate`` reports."""

    source: str
    source_path: str | None
    database: str
    tenants: Tenants
    mail_transport: str | None
    rate_limits: str


class _Context:
    """What the commands work with: a deployment the host built and handed over as it is.

    The host owns it: nothing is closed at the end.
    """

    def __init__(self, deployment: Deployment | None, *, stdin: TextIO) -> None:
        self._deployment = deployment
        self.stdin = stdin

    def deployment(self, *, migrate: bool | None = None) -> Deployment:
        """The deployment; ``migrate`` says whether one built here migrates first (``None``: as
        the settings say). A given deployment is used as it is."""
        assert self._deployment is not None
        return self._deployment

    def account(self, account_id: str, tenant: str | None = None) -> Account:
        """The account with this id (in ``tenant`` when given), or :class:`AccountNotFound`."""
        deployment = self.deployment()
        if tenant is not None:
            deployment.tenants.get_tenant(tenant)
        if not account_id or len(account_id) > _MAX_ID_LENGTH:
            raise AccountNotFound()
        account = deployment.store.atomic(lambda tx: tx.account(account_id))
        if account is None or (tenant is not None and account.tenant != tenant):
            raise AccountNotFound()
        return account

    def summary(self) -> _Summary:
        """The deployment as it was built (its mail transport made, to check it)."""
        deployment = self.deployment()
        settings = deployment.settings
        if deployment.transport is not None:
            mail: str | None = type(deployment.transport).__name__
        elif settings is not None and settings.mail.transport is not None:
            deployment.mail_transport()
            mail = settings.mail.transport_type
        else:
            mail = None
        if deployment.onboarding.limiter is None:
            rate_limits = "off"
        else:
            rate_limits = settings.rate_limit_backend if settings is not None else "on"
        source = settings.source if settings is not None else None
        return _Summary(
            source=str(source) if source else "(given by the framework)",
            source_path=str(source) if source else None,
            database=deployment.store_label,
            tenants=deployment.tenants,
            mail_transport=mail,
            rate_limits=rate_limits,
        )

    def close(self) -> None:
        """Release what this context made (nothing: a given deployment is the host's)."""


class _SettingsFile(_Context):
    """The console script's deployment, built from the settings file on first use and closed at
    the end, so that ``config validate`` touches no database."""

    def __init__(
        self, args: argparse.Namespace, environ: Mapping[str, str], clock: Clock, *, stdin: TextIO
    ) -> None:
        super().__init__(None, stdin=stdin)
        self._args = args
        self._environ = environ
        self._clock = clock
        self._settings: Settings | None = None
        self._store: SqlStore | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            settings = Settings.load(getattr(self._args, "config", None), environ=self._environ)
            database = getattr(self._args, "database", None)
            if database:
                check_database_url(database, key="--database")
                settings = attrs.evolve(settings, database_url=database)
            self._settings = settings
        return self._settings

    def deployment(self, *, migrate: bool | None = None) -> Deployment:
        if self._deployment is None:
            settings = self.settings
            self._store = build_store(settings, migrate=migrate)
            onboarding = build_onboarding(
                settings, plugins=build_plugins(), clock=self._clock, store=self._store
            )
            self._deployment = Deployment(onboarding, settings=settings)
        return self._deployment

    def summary(self) -> _Summary:
        """The settings alone: checking them opens no database."""
        settings = self.settings
        if settings.mail.transport is not None:
            # A plugin's transport type is known only once the plugins are loaded.
            build_transport(settings, build_plugins())
        return _Summary(
            source=str(settings.source) if settings.source else "(mapping)",
            source_path=str(settings.source) if settings.source else None,
            database=redacted_url(settings.database_url),
            tenants=settings.tenants,
            mail_transport=settings.mail.transport_type,
            rate_limits=settings.rate_limit_backend,
        )

    def close(self) -> None:
        if self._deployment is not None:
            self._deployment.onboarding.close()
        if self._store is not None:
            self._store.dispose()


# -- commands ----------------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, _Context, TextIO], int]


def _write(out: TextIO, text: str) -> None:
    out.write(text + "\n")


def cmd_pending(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    deployment = context.deployment()
    tenants = [args.tenant] if args.tenant else list(deployment.tenants)
    accounts: list[Account] = []
    for tenant in tenants:
        deployment.tenants.get_tenant(tenant)
        accounts.extend(
            deployment.onboarding.pending_reviews(tenant, limit=args.limit, offset=args.offset)
        )
    if args.json:
        _write(out, _dump([account_as_dict(account) for account in accounts]))
        return EXIT_OK
    if not accounts:
        _write(out, "No registrations are waiting for review.")
        return EXIT_OK
    rows = [
        (
            account.id,
            account.tenant,
            account.email,
            _name(account) or "-",
            _when(account.created_at),
            _when(account.confirmed_at),
        )
        for account in accounts
    ]
    headers = ("ACCOUNT", "TENANT", "EMAIL", "NAME", "REGISTERED", "CONFIRMED")
    _write(out, format_table(headers, rows))
    return EXIT_OK


def cmd_show(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    account = context.account(args.account_id, args.tenant)
    _write(out, _dump(account_as_dict(account)) if args.json else _describe_account(account))
    return EXIT_OK


def cmd_approve(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    account = context.account(args.account_id, args.tenant)
    approved = context.deployment().onboarding.approve(
        account.tenant,
        account.id,
        reviewer=args.reviewer,
        roles=tuple(args.roles),
        user_type=args.user_type,
    )
    if args.json:
        _write(out, _dump(account_as_dict(approved)))
    else:
        roles = ", ".join(approved.roles) or "-"
        _write(out, f"Approved {approved.id} ({_safe(approved.email)}); roles: {_safe(roles)}.")
    return EXIT_OK


def cmd_reject(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    account = context.account(args.account_id, args.tenant)
    rejected = context.deployment().onboarding.reject(
        account.tenant, account.id, reviewer=args.reviewer, reason=args.reason
    )
    if args.json:
        _write(out, _dump(account_as_dict(rejected)))
    else:
        _write(out, f"Rejected {rejected.id} ({_safe(rejected.email)}); the applicant is told.")
    return EXIT_OK


def cmd_invite(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    deployment = context.deployment()
    deployment.tenants.get_tenant(args.tenant)
    deployment.onboarding.invite(
        args.tenant,
        args.email,
        roles=tuple(args.roles),
        invited_by=args.invited_by,
        organization_id=args.organization,
        user_type=args.user_type,
    )
    _write(out, f"An invitation for {_safe(args.email)} is in the outbox.")
    return EXIT_OK


def cmd_resend(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    deployment = context.deployment()
    tenant = deployment.tenants.get_tenant(args.tenant)
    address = parse_email(args.email)
    account = deployment.store.atomic(lambda tx: tx.account_by_email(tenant.id, address.canonical))
    onboarding = deployment.onboarding
    if account is None:
        raise NothingToResend(tenant=tenant.id)
    if account.status is AccountStatus.INVITED:
        onboarding.resend_invitation(tenant.id, account.email)
        what = "invitation"
    elif account.status is AccountStatus.PENDING_CONFIRMATION:
        onboarding.resend_confirmation(tenant.id, account.email, client_address=None, locale=None)
        what = "confirmation mail"
    elif account.status is AccountStatus.PENDING_ACTIVATION:
        onboarding.start_signup(tenant.id, account.email, client_address=None, locale=None)
        what = "activation mail"
    else:
        raise NothingToResend(tenant=tenant.id)
    _write(out, f"A new {what} for {_safe(account.email)} is in the outbox.")
    return EXIT_OK


def _read_password(args: argparse.Namespace, stdin: TextIO) -> str:
    """The new account's password: one line of standard input, or typed twice at a prompt.

    Never an argument: the command line of a process is visible to every user of the machine.
    """
    if args.password_stdin:
        return stdin.readline().rstrip("\r\n")
    if not stdin.isatty():
        raise _UsageError(_PasswordNeedsInput())
    try:
        password = getpass.getpass("Password: ")
        again = getpass.getpass("Password (again): ")
    except EOFError:  # Ctrl-D at a prompt: the operator gave up, as with Ctrl-C
        raise KeyboardInterrupt from None
    if again != password:
        raise _UsageError(_PasswordsDiffer())
    return password


def cmd_account_create(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    deployment = context.deployment()
    deployment.tenants.get_tenant(args.tenant)
    password = _read_password(args, context.stdin)
    account = deployment.onboarding.create_account(
        args.tenant,
        args.email,
        password,
        roles=tuple(args.roles),
        created_by=args.created_by,
        user_type=args.user_type,
        given_name=args.given_name,
        family_name=args.family_name,
        locale=args.account_locale,
    )
    if args.json:
        _write(out, _dump(account_as_dict(account)))
    else:
        roles = ", ".join(account.roles) or "-"
        _write(
            out,
            f"Created {account.id} ({_safe(account.email)}) in {account.tenant}, active; "
            f"roles: {_safe(roles)}.",
        )
    return EXIT_OK


def cmd_partner_create(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    deployment = context.deployment()
    deployment.tenants.get_tenant(args.tenant)
    expires_at = deployment.clock() + args.expires_in * DAY if args.expires_in is not None else None
    registry = deployment.onboarding.partner_registry
    partner, code = registry.create(
        args.tenant, args.name, expires_at=expires_at, max_uses=args.max_uses
    )
    if args.json:
        data = {
            "tenant": partner.tenant,
            "partner_id": partner.id,
            "name": partner.name,
            "code": code,
            "expires_at": _iso(expires_at),
            "max_uses": args.max_uses,
        }
        _write(out, _dump(data))
        return EXIT_OK
    _write(out, f"Partner:   {_safe(partner.name)} ({partner.id}) in {partner.tenant}")
    _write(out, f"Code:      {code}")
    _write(out, f"Expires:   {_when(expires_at) if expires_at is not None else 'never'}")
    _write(out, f"Max uses:  {args.max_uses if args.max_uses is not None else 'no limit'}")
    _write(out, "The code is shown only this once; only a keyed digest of it is stored.")
    return EXIT_OK


def cmd_consents_export(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    # No look-up of the account first: the proof of an erased account's consents stays exportable.
    deployment = context.deployment()
    deployment.tenants.get_tenant(args.tenant)
    if not args.account_id or len(args.account_id) > _MAX_ID_LENGTH:
        raise AccountNotFound()
    exported = deployment.onboarding.export_consents(args.tenant, args.account_id)
    _write(out, _dump(exported))
    return EXIT_OK


def cmd_erase(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    if not args.yes:
        raise _UsageError(_EraseNotConfirmed())
    account = context.account(args.account_id, args.tenant)
    context.deployment().onboarding.erase(account.tenant, account.id, actor=args.actor)
    _write(out, f"Erased {account.id}; the consent proof stays in pseudonymous form.")
    return EXIT_OK


def cmd_purge(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    report = context.deployment().onboarding.purge()
    data = attrs.asdict(report) if attrs.has(type(report)) else dict(vars(report))
    if args.json:
        _write(out, _dump(data))
    else:
        _write(out, format_table(("PURGED", "COUNT"), sorted(data.items())))
    return EXIT_OK


def cmd_outbox_deliver(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    from onboardkit.outbox import DeliveryReport

    deployment = context.deployment()
    worker = deployment.outbox_worker()
    if args.loop:
        stop = threading.Event()
        with _stop_on_signals(stop):
            report = worker.run(stop, idle_sleep=deployment.idle_sleep)
    else:
        report = DeliveryReport()
        # Everything due now, batch by batch; a failed mail is due again only later, so this ends.
        for _round in range(_MAX_LIST):
            done = worker.deliver_once()
            report += done
            if done.claimed == 0:
                break
    data = {"sent": report.sent, "failed": report.failed, "gave_up": report.gave_up}
    if args.json:
        _write(out, _dump(data))
    else:
        _write(out, f"sent {report.sent}, failed {report.failed}, gave up {report.gave_up}")
    return EXIT_OK


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {number: signal.signal(number, handler) for number in _stop_signals()}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _stop_signals() -> tuple[signal.Signals, ...]:
    return (signal.SIGINT, signal.SIGTERM)


def cmd_keys_rotate(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    from onboardkit.keys import rotate_signing_keys

    deployment = context.deployment()
    keep = args.keep if args.keep is not None else deployment.keep_keys
    kid = rotate_signing_keys(deployment.store, deployment.clock, keep=keep)
    _write(out, kid)
    return EXIT_OK


def cmd_config_validate(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    if getattr(args, "path", None) is not None:
        args.config = args.path
    summary = context.summary()
    tenants = summary.tenants
    lines = [
        f"configuration ok: {summary.source}",
        f"database:     {summary.database}",
        f"tenants:      {len(tenants)} ({', '.join(tenants)})",
        f"mail:         {summary.mail_transport or 'no transport (mail waits in the outbox)'}",
        f"rate limits:  {summary.rate_limits}",
    ]
    for tenant in tenants.values():
        flows = ", ".join(sorted(flow.value for flow in tenant.flows))
        review = "review" if tenant.review_required else "no review"
        lines.append(f"  {tenant.id}: {_safe(tenant.name)} [{flows}; {review}]")
    if args.json:
        data = {
            "source": summary.source_path,
            "database": summary.database,
            "tenants": list(tenants),
            "mail_transport": summary.mail_transport,
            "rate_limit_backend": summary.rate_limits,
        }
        _write(out, _dump(data))
    else:
        _write(out, "\n".join(lines))
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace, context: _Context, out: TextIO) -> int:
    # Built unmigrated: migrating is this command's own work, once.
    deployment = context.deployment(migrate=False)
    revision = deployment.migrate()
    _write(out, f"{deployment.store_label} is at revision {revision}.")
    return EXIT_OK


# -- the parser --------------------------------------------------------------------------------


def _add_global_options(
    parser: argparse.ArgumentParser, *, defaults: bool, settings_file: bool
) -> None:
    # Accepted before and after the command; after it, only when given (SUPPRESS keeps the
    # value given before the command).
    default = None if defaults else argparse.SUPPRESS
    if settings_file:
        parser.add_argument(
            "--config", metavar="PATH", default=default, help="the settings file (TOML)"
        )
        parser.add_argument(
            "--database",
            metavar="URL",
            default=default,
            help="the database URL, over the settings",
        )
    parser.add_argument(
        "--locale",
        metavar="LANG",
        default=default,
        help="the language of messages (en, de); default from LANG",
    )


def _common(*, settings_file: bool) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, defaults=False, settings_file=settings_file)
    return common


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("expected a whole number of at least 1")
    return value


def _count(text: str) -> int:
    value = _positive(text)
    if value > _MAX_LIST:
        raise argparse.ArgumentTypeError(f"expected at most {_MAX_LIST}")
    return value


def _offset(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("expected 0 or more")
    return value


def build_parser(
    prog: str = "onboardkit", *, settings_file: bool = True
) -> argparse.ArgumentParser:
    """The ``onboardkit`` argument parser with every command.

    :param prog: The program name that usage and help show (``"manage.py onboardkit"``).
    :param settings_file: Whether the deployment comes from a settings file (``--config``,
        ``--database``, ``config validate PATH``); ``False`` for a deployment a framework built.
    """
    common = _common(settings_file=settings_file)
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Operate onboardkit: review registrations, invite, manage partner codes, "
        "deliver mail, rotate keys, migrate the database.",
    )
    _add_global_options(parser, defaults=True, settings_file=settings_file)
    parser.add_argument("--version", action="version", version=f"onboardkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        subparsers: Any, name: str, handler: Handler | None, help_text: str
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = subparsers.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        if handler is not None:
            sub.set_defaults(handler=handler)
        return sub

    def tenant_option(sub: argparse.ArgumentParser, *, required: bool) -> None:
        sub.add_argument("--tenant", required=required, metavar="ID", help="the tenant's id")

    def roles_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--role",
            dest="roles",
            action="append",
            default=[],
            metavar="ROLE",
            help="a role to give (repeat for several)",
        )

    def json_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")

    pending = command(commands, "pending", cmd_pending, "list registrations waiting for review")
    tenant_option(pending, required=False)
    pending.add_argument("--limit", type=_count, default=100, help="at most this many per tenant")
    pending.add_argument("--offset", type=_offset, default=0, help="skip this many per tenant")
    json_option(pending)

    show = command(commands, "show", cmd_show, "show one account")
    show.add_argument("account_id", metavar="ACCOUNT-ID")
    tenant_option(show, required=False)
    json_option(show)

    approve = command(commands, "approve", cmd_approve, "approve a registration under review")
    approve.add_argument("account_id", metavar="ACCOUNT-ID")
    roles_option(approve)
    approve.add_argument("--user-type", metavar="TYPE", help="the user type to give")
    approve.add_argument("--reviewer", required=True, metavar="EMAIL", help="who decided")
    tenant_option(approve, required=False)
    json_option(approve)

    reject = command(commands, "reject", cmd_reject, "reject a registration under review")
    reject.add_argument("account_id", metavar="ACCOUNT-ID")
    reject.add_argument(
        "--reason", required=True, metavar="TEXT", help="why; the applicant reads it"
    )
    reject.add_argument("--reviewer", required=True, metavar="EMAIL", help="who decided")
    tenant_option(reject, required=False)
    json_option(reject)

    invite = command(commands, "invite", cmd_invite, "invite a person by mail")
    invite.add_argument("email", metavar="EMAIL")
    tenant_option(invite, required=True)
    roles_option(invite)
    invite.add_argument("--organization", metavar="ID", help="the organization to join")
    invite.add_argument("--user-type", metavar="TYPE", help="the user type to give")
    invite.add_argument("--invited-by", required=True, metavar="EMAIL", help="who invites")

    account = command(commands, "account", None, "accounts made by an operator")
    account_commands = account.add_subparsers(dest="account_command", metavar="COMMAND")
    account_commands.required = True
    account_create = command(
        account_commands,
        "create",
        cmd_account_create,
        "create an active account directly, such as the first reviewer",
    )
    account_create.add_argument("email", metavar="EMAIL")
    tenant_option(account_create, required=True)
    roles_option(account_create)
    account_create.add_argument("--user-type", metavar="TYPE", help="the user type to give")
    account_create.add_argument("--given-name", metavar="NAME", help="the person's given name")
    account_create.add_argument("--family-name", metavar="NAME", help="the person's family name")
    account_create.add_argument(
        "--account-locale",
        metavar="LANG",
        help="the language of the account's mail (en, de); default the tenant's",
    )
    account_create.add_argument(
        "--created-by", required=True, metavar="EMAIL", help="who creates it (for the audit trail)"
    )
    account_create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of a prompt",
    )
    json_option(account_create)

    partner = command(commands, "partner", None, "manage partner codes")
    partner_commands = partner.add_subparsers(dest="partner_command", metavar="COMMAND")
    partner_commands.required = True
    create = command(
        partner_commands,
        "create",
        cmd_partner_create,
        "register a partner and issue its code (shown once)",
    )
    tenant_option(create, required=True)
    create.add_argument("--name", required=True, help="the partner's name")
    create.add_argument(
        "--expires-in", type=_positive, metavar="DAYS", help="the code expires after DAYS days"
    )
    create.add_argument(
        "--max-uses", type=_positive, metavar="N", help="at most N sign-ups may use the code"
    )
    json_option(create)

    resend = command(
        commands, "resend", cmd_resend, "send a pending confirmation or invitation mail again"
    )
    resend.add_argument("email", metavar="EMAIL")
    tenant_option(resend, required=True)

    consents = command(commands, "consents", None, "consent records")
    consent_commands = consents.add_subparsers(dest="consents_command", metavar="COMMAND")
    consent_commands.required = True
    export = command(
        consent_commands, "export", cmd_consents_export, "export an account's consents as JSON"
    )
    export.add_argument("account_id", metavar="ACCOUNT-ID")
    tenant_option(export, required=True)

    erase = command(commands, "erase", cmd_erase, "erase an account (consent proof stays)")
    erase.add_argument("account_id", metavar="ACCOUNT-ID")
    tenant_option(erase, required=True)
    erase.add_argument("--yes", action="store_true", help="really erase")
    erase.add_argument("--actor", metavar="EMAIL", help="who erases (for the audit trail)")

    purge = command(
        commands, "purge", cmd_purge, "delete expired unclaimed accounts and old sent mail"
    )
    json_option(purge)

    outbox = command(commands, "outbox", None, "the mail outbox")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", metavar="COMMAND")
    outbox_commands.required = True
    deliver = command(
        outbox_commands, "deliver", cmd_outbox_deliver, "send due mail with the transport"
    )
    mode = deliver.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="send what is due, then stop (default)")
    mode.add_argument("--loop", action="store_true", help="keep sending until interrupted")
    json_option(deliver)

    keys = command(commands, "keys", None, "signing keys for links")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="COMMAND")
    key_commands.required = True
    rotate = command(
        key_commands, "rotate", cmd_keys_rotate, "add a new signing key; prints its id only"
    )
    rotate.add_argument(
        "--keep", type=_positive, metavar="N", help="older keys that keep verifying links"
    )

    config = command(commands, "config", None, "the settings")
    config_commands = config.add_subparsers(dest="config_command", metavar="COMMAND")
    config_commands.required = True
    validate = command(
        config_commands, "validate", cmd_config_validate, "check the settings and tenants"
    )
    if settings_file:
        validate.add_argument("path", nargs="?", metavar="PATH", help="the file to check")
    json_option(validate)

    command(commands, "migrate", cmd_migrate, "bring the database tables up to date")
    # Flask-Migrate's words for the same, so `flask onboardkit db upgrade` reads like `flask db
    # upgrade` in a Flask project.
    db = command(commands, "db", None, "the database tables")
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND")
    db_commands.required = True
    command(db_commands, "upgrade", cmd_migrate, "bring the database tables up to date (migrate)")
    return parser


# -- running -----------------------------------------------------------------------------------


def _locale(args: argparse.Namespace | None, environ: Mapping[str, str]) -> str:
    requested = getattr(args, "locale", None) if args is not None else None
    if not requested:
        for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
            if environ.get(variable):
                requested = environ[variable]
                break
    return normalize_locale(requested)


def _report(error: OnboardkitError, locale: str, err: TextIO) -> None:
    prefix = ERROR_PREFIX.render(locale)
    _write(err, f"{prefix}: {error.code}: {_safe(error.localized(locale))}")
    if isinstance(error, ValidationError):
        for issue in error.issues:
            _write(err, f"  {_safe(issue.path)}: {issue.code}: {_safe(issue.localized(locale))}")


def _database_detail(error: sa.exc.DBAPIError) -> str:
    original = error.orig if error.orig is not None else error
    lines = str(original).strip().splitlines()
    return lines[0][:300] if lines else type(original).__name__


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock = system_clock,
    deployment: Deployment | None = None,
    prog: str | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run one command; returns the exit code (0 done, 1 refused, 2 usage or configuration).

    Never calls :func:`sys.exit`, so a framework's command runner can call it and exit with the
    code its own way.

    :param argv: The arguments after the program name; by default ``sys.argv[1:]``.
    :param environ: Where ``ONBOARDKIT_*`` settings and ``LANG`` are read; by default
        ``os.environ``.
    :param clock: The time source of a deployment built from the settings file (a given
        deployment's service has its own).
    :param deployment: A deployment the host built (:class:`onboardkit.deployment.Deployment`);
        the commands then work on it, ``--config`` and ``--database`` do not exist, and nothing
        of it is closed at the end. By default the settings file's deployment.
    :param prog: The program name usage and help show, such as ``"manage.py onboardkit"``.
    :param stdout: Where results go; by default ``sys.stdout``.
    :param stderr: Where errors and usage go; by default ``sys.stderr``.
    :param stdin: Where ``account create --password-stdin`` reads; by default ``sys.stdin``.
    """
    env = os.environ if environ is None else environ
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    parser = build_parser(prog or "onboardkit", settings_file=deployment is None)
    try:
        # argparse writes help, version and usage errors to sys.stdout and sys.stderr.
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    locale = _locale(args, env)
    given = stdin if stdin is not None else sys.stdin
    context = (
        _Context(deployment, stdin=given)
        if deployment is not None
        else _SettingsFile(args, env, clock, stdin=given)
    )
    try:
        handler: Handler = args.handler
        return handler(args, context, out)
    except _UsageError as usage:
        _report(usage.error, locale, err)
        return EXIT_USAGE
    except (ConfigurationError, MigrationsElsewhere) as error:
        _report(error, locale, err)
        return EXIT_USAGE
    except OnboardkitError as error:
        _report(error, locale, err)
        return EXIT_REFUSED
    except sa.exc.DBAPIError as error:
        _report(_DatabaseUnavailable(detail=_safe(_database_detail(error))), locale, err)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130
    finally:
        context.close()
