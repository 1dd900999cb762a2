"""The hooks plugins implement: every one is named ``onboardkit_*``, typed and documented here.

Three kinds of hook:

* **collectors** return a list (or ``None``); onboardkit concatenates the answers of every
  plugin: :func:`onboardkit_password_rules`, :func:`onboardkit_validate_field`,
  :func:`onboardkit_template_folders`, :func:`onboardkit_mail_transports`.
* **deciders** (``firstresult``) stop at the first plugin that answers with something other than
  ``None``: :func:`onboardkit_resolve_partner_code`.
* **observers** return ``None`` and are told that something happened:
  :func:`onboardkit_consent_recorded`, :func:`onboardkit_account_changed`.

:func:`onboardkit_provision_account` is called for every implementation inside the step that
activates an account, with the step's transaction; an implementation that raises rolls the step
back, with whatever the host wrote through that transaction.

Hooks are always called with keyword arguments, and an implementation may accept fewer arguments
than its spec, so adding an argument to a spec later never breaks a plugin.

The reference in ``docs/hooks.md`` must match these signatures; a test checks it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from onboardkit.accounts import Account, AccountEvent
    from onboardkit.consent import ConsentRecord
    from onboardkit.errors import Issue
    from onboardkit.fields import FieldSpec
    from onboardkit.partners import Partner
    from onboardkit.passwords import PasswordPolicy, PasswordRule
    from onboardkit.storage import Transaction
    from onboardkit.tenants import Tenant
    from onboardkit.transports import Transport

PROJECT_NAME = "onboardkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def onboardkit_password_rules(tenant: str, policy: PasswordPolicy) -> Iterable[PasswordRule] | None:
    """Add rules to a tenant's password policy (a breached-password check, say).

    Collector: the rules of every plugin are checked, after the built-in ones, and all violations
    are reported together.

    :param tenant: The id of the tenant whose policy is being assembled.
    :param policy: The tenant's configured policy (length bounds, profile, context settings).
    :return: Rules to add, or ``None`` for none. A rule that raises is reported and skipped,
        never passed on to the person choosing a password.
    """


@hookspec
def onboardkit_validate_field(
    tenant: str, field: FieldSpec, value: object, values: Mapping[str, object]
) -> Iterable[Issue] | None:
    """Check a custom-field value beyond its declared rules (a checksum on a customer number).

    Collector: called only for values that passed the field's declared checks, with the value
    already parsed and normalized; the issues of every plugin are reported together.

    :param tenant: The id of the tenant whose schema is being validated.
    :param field: The declaration of the field.
    :param value: The parsed, normalized value.
    :param values: Every parsed value of the submission by field name, for cross-field checks.
    :return: Issues found (their paths are taken as given), or ``None`` for none.
    """


@hookspec(firstresult=True)
def onboardkit_resolve_partner_code(tenant: str, code: str) -> Partner | None:
    """Find the partner a partner code belongs to.

    Stops at first non-None result. The built-in registry of operator-issued codes answers first;
    provider plugins (partner details from a remote system) answer for codes it does not know.
    A plugin that raises or does not answer within the time limit makes the resolution fail
    closed with ``partner_code.unavailable``.

    :param tenant: The id of the tenant the sign-up happens in.
    :param code: The code as the person typed it, stripped of surrounding white space and
        bounded in length; providers normalize it as their codes require.
    :return: The partner, or ``None`` when this plugin does not know the code.
    """


@hookspec
def onboardkit_consent_recorded(record: ConsentRecord) -> None:
    """Observe a consent event (given, withdrawn or erased) after it was appended to the ledger.

    :param record: The appended record, with its position and hash in the chain.
    """


@hookspec
def onboardkit_template_folders(tenant: str) -> Iterable[str | os.PathLike[str]] | None:
    """Add template folders, searched after the host's own folders and before onboardkit's.

    Collector: the folders of every plugin are searched in the order the plugins were
    registered. A folder holds templates at the same paths as onboardkit's own
    (``mail/confirmation.html``, ``mail/de/confirmation.txt``, ``web/register.html``), so a
    plugin can restyle or reword any mail and any page of the tenants it serves. Pages outside
    a tenant (the demo's tenant list and mail page) do not ask.

    :param tenant: The id of the tenant a mail or page is rendered for.
    :return: Folders (paths), or ``None`` for none.
    """


@hookspec
def onboardkit_mail_transports() -> (
    Mapping[str, Callable[[Mapping[str, object]], Transport]] | None
):
    """Offer more ways to send mail, selectable by name as ``mail.transport.type``.

    Collector: each plugin maps type names to a factory that builds a transport from the
    configuration table (the whole ``mail.transport`` table, ``type`` included). The built-in
    types (``smtp``, ``console``, ``folder``) cannot be replaced, and a name two plugins offer
    is refused when it is selected.

    :return: Factories by type name, or ``None`` for none. A factory raises
        ``ConfigurationError`` for a setting it cannot use.
    """


@hookspec
def onboardkit_account_changed(event: AccountEvent) -> None:
    """Observe an account being created, moved to another status, replaced or removed.

    Observer: called after the step that made the change committed, once per change, for an
    audit trail. An implementation that raises is logged and skipped; the change stays.

    :param event: The tenant, account id, flow, action, old and new status, time and actor.
    """


@hookspec
def onboardkit_provision_account(
    tenant: Tenant, account: Account, transaction: Transaction
) -> None:
    """Create the host's own user for an account that has just become active.

    Called for every implementation, inside the transaction that activates the account (approval
    after review, confirmation without review, accepted invitation, completed sign-up). Write the
    host's rows through ``transaction`` so they commit with the step: an implementation that
    raises, or one called after it that raises, rolls the whole step back, the host's rows
    included; the account stays where it was, no mail goes out, and the caller gets
    ``account.provisioning_failed`` and can try again. (A write through another connection to
    the same database would wait for the step's locks, and would outlive a rolled-back step.)

    :param tenant: The tenant's configuration.
    :param account: The account as it will be stored: status ``active``, roles, user type,
        organization or partner.
    :param transaction: The step's transaction. Its ``handle`` is the store's own handle on it:
        the SQLAlchemy ``Connection`` for :class:`~onboardkit.sqlstore.SqlStore` (a host's ORM
        session joins it through :func:`onboardkit.sqlstore.joined_session`), the database
        alias for a store on the Django ORM. An implementation that does not need it may leave
        the argument out.
    """
