"""The store on the Django ORM: the StoreContract and whole flows on SQLite, PostgreSQL, MariaDB.

``DjangoStore`` keeps onboardkit's rows in the app's models and runs each step in Django's
``transaction.atomic`` on one database alias; these tests hold it to what every store promises
(``onboardkit.testing.StoreContract``) and to what a Django host relies on besides: the
migrations match the models, a step's writes through Django's ORM commit with it, and a whole
registration runs on it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connections, transaction
from onboardkit_django.models import AccountRow
from onboardkit_django.store import DjangoRateLimitBackend, DjangoStore, DjangoTransaction

from onboardkit import hookimpl
from onboardkit.accounts import Account, AccountStatus
from onboardkit.onboarding import Onboarding
from onboardkit.onboarding.errors import ProvisioningFailed
from onboardkit.ratelimits import RateLimitBackend
from onboardkit.storage import Store
from onboardkit.tenants import Tenant, Tenants
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.outbox import mail_token, outbox_mails
from onboardkit.testing.passwords import CheapTestHasher
from onboardkit.testing.ratelimits import RateLimitBackendContract
from onboardkit.testing.store_contract import StoreContract

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PASSWORD = "Tundra-Violet-Harbor-93"
ANNA = "anna@example.org"
REVIEWER = "review@pim.example.com"
CONFIG = tomllib.loads((Path(__file__).parent / "onboardkit.toml").read_text(encoding="utf-8"))
TENANTS = Tenants.from_mapping({"tenants": CONFIG["tenants"]})
#: The alias of each database server in tests/settings.py: the one the suite runs on is "default".
ALIAS = {
    server: "default" if server == settings.DEFAULT_DATABASE else server
    for server in ("sqlite", "postgresql", "mariadb")
}


# -- the contract, once per database --------------------------------------------------------------


@pytest.mark.django_db(transaction=True, databases=[ALIAS["sqlite"]])
class TestSqliteDjangoStore(StoreContract):
    @pytest.fixture
    def store(self) -> Store:
        return DjangoStore(ALIAS["sqlite"])


@pytest.mark.django_db(transaction=True, databases=[ALIAS["postgresql"]])
class TestPostgresqlDjangoStore(StoreContract):
    @pytest.fixture
    def store(self) -> Store:
        return DjangoStore(ALIAS["postgresql"])


@pytest.mark.django_db(transaction=True, databases=[ALIAS["mariadb"]])
class TestMariadbDjangoStore(StoreContract):
    @pytest.fixture
    def store(self) -> Store:
        return DjangoStore(ALIAS["mariadb"])


@pytest.mark.django_db(transaction=True, databases=[ALIAS["sqlite"]])
class TestSqliteRateLimitBackend(RateLimitBackendContract):
    @pytest.fixture
    def backend(self) -> RateLimitBackend:
        return DjangoRateLimitBackend(ALIAS["sqlite"])


@pytest.mark.django_db(transaction=True, databases=[ALIAS["postgresql"]])
class TestPostgresqlRateLimitBackend(RateLimitBackendContract):
    @pytest.fixture
    def backend(self) -> RateLimitBackend:
        return DjangoRateLimitBackend(ALIAS["postgresql"])


@pytest.mark.django_db(transaction=True, databases=[ALIAS["mariadb"]])
class TestMariadbRateLimitBackend(RateLimitBackendContract):
    @pytest.fixture
    def backend(self) -> RateLimitBackend:
        return DjangoRateLimitBackend(ALIAS["mariadb"])


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_expired_rate_limit_counters_are_purged(database: str) -> None:
    backend = DjangoRateLimitBackend(database)
    backend.hit("register:ip:ab12", 60, 1_800_000_000.0)
    backend.hit("register:ip:ab12", 60, 1_800_000_200.0)

    assert backend.purge(1_800_000_130.0) == 1
    assert backend.count("register:ip:ab12", 60, 1_800_000_200.0) == 1


# -- the schema -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_checked_in_migrations_match_the_models() -> None:
    # makemigrations --check exits with status 1 when a model changed without a migration.
    call_command("makemigrations", "onboardkit", check=True, dry_run=True, verbosity=0)


@pytest.mark.django_db(databases="__all__")
def test_the_tables_are_named_onboardkit_on_every_database(database: str) -> None:
    tables = set(connections[database].introspection.table_names())
    assert {
        "onboardkit_accounts",
        "onboardkit_organizations",
        "onboardkit_outbox",
        "onboardkit_consent_records",
        "onboardkit_partner_codes",
        "onboardkit_signing_keys",
        "onboardkit_rate_limits",
    } <= tables


@pytest.mark.django_db(transaction=True, databases=[ALIAS["postgresql"], ALIAS["mariadb"]])
@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_steps_run_at_read_committed(server: str) -> None:
    database = ALIAS[server]
    query = {
        "postgresql": "SHOW transaction_isolation",
        "mariadb": "SELECT @@SESSION.tx_isolation",
    }[server]

    def isolation(tx: DjangoTransaction) -> str:
        with connections[tx.using].cursor() as cursor:
            cursor.execute(query)
            return str(cursor.fetchone()[0])

    assert isolation_name(DjangoStore(database).atomic(isolation)) == "read committed"


def isolation_name(answer: str) -> str:
    return answer.lower().replace("-", " ")


def test_django_defaults_mariadb_to_read_committed() -> None:
    # The store relies on it; a host that sets no isolation_level gets it from Django itself.
    from django.db.backends.mysql.base import DatabaseWrapper

    entry = {**connections.settings[ALIAS["mariadb"]], "OPTIONS": {"charset": "utf8mb4"}}
    wrapper = DatabaseWrapper(entry, alias="mariadb-defaults")
    wrapper.get_connection_params()
    assert wrapper.isolation_level == "read committed"


# -- transactions as a Django host sees them ------------------------------------------------------


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_the_transaction_handle_is_the_database_alias(database: str) -> None:
    assert DjangoStore(database).atomic(lambda tx: tx.handle) == database


@pytest.mark.django_db(transaction=True)
def test_a_step_inside_a_step_is_refused() -> None:
    store = DjangoStore()
    with pytest.raises(RuntimeError, match="inside a step"):
        store.atomic(lambda _tx: store.atomic(lambda _inner: None))


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_hosts_orm_write_in_a_step_commits_or_rolls_back_with_it(database: str) -> None:
    store = DjangoStore(database)

    def write(tx: DjangoTransaction, fail: bool) -> None:
        Group.objects.using(tx.handle).create(name="failed" if fail else "kept")
        if fail:
            raise RuntimeError("the step failed after the host's write")

    store.atomic(lambda tx: write(tx, False))
    with pytest.raises(RuntimeError):
        store.atomic(lambda tx: write(tx, True))
    assert list(Group.objects.using(database).values_list("name", flat=True)) == ["kept"]


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_step_inside_the_hosts_transaction_commits_with_it(database: str) -> None:
    store = DjangoStore(database)
    account = Account(
        id="a" * 32,
        tenant="pim",
        flow="registration",
        status=AccountStatus.PENDING_CONFIRMATION,
        email=ANNA,
        canonical_email=ANNA,
        created_at=1.0,
        updated_at=1.0,
    )

    def request(fail: bool) -> None:
        with transaction.atomic(using=database):
            store.atomic(lambda tx: tx.insert_account(account))
            if fail:
                raise RuntimeError("the host's request failed after onboardkit's step")

    with pytest.raises(RuntimeError):
        request(fail=True)
    assert not AccountRow.objects.using(database).exists()
    request(fail=False)
    assert AccountRow.objects.using(database).filter(id=account.id).exists()


# -- whole flows on the Django store --------------------------------------------------------------


@pytest.fixture
def onboarding_on(request: pytest.FixtureRequest) -> Iterator[Any]:
    made: list[Onboarding] = []

    def make(database: str, *plugins: object) -> Onboarding:
        onboarding = Onboarding(
            TENANTS,
            DjangoStore(database),
            secret=b"onboardkit-django store tests, 32 bytes or more",
            plugins=make_plugins(*plugins),
            hasher=CheapTestHasher(),
            clock=FrozenClock(),
        )
        made.append(onboarding)
        return onboarding

    yield make
    for onboarding in made:
        onboarding.close()


def registration_form(email: str) -> dict[str, object]:
    return {"email": email, "password": PASSWORD, "given_name": "Anna", "family_name": "Berg"}


def registered_and_confirmed(onboarding: Onboarding, email: str = ANNA) -> Account:
    onboarding.register("pim", registration_form(email), client_address="192.0.2.1")
    token = mail_token(onboarding.store, email, "confirmation")
    return onboarding.confirm(token)


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_registration_runs_from_form_to_sign_in(database: str, onboarding_on: Any) -> None:
    onboarding = onboarding_on(database)
    confirmed = registered_and_confirmed(onboarding)
    assert confirmed.status is AccountStatus.PENDING_REVIEW

    approved = onboarding.approve("pim", confirmed.id, reviewer=REVIEWER, roles=["editor"])

    assert approved.status is AccountStatus.ACTIVE
    assert onboarding.authenticate("pim", ANNA, PASSWORD).id == approved.id
    assert outbox_mails(onboarding.store, ANNA, "approved")
    stored = AccountRow.objects.using(database).get(id=approved.id)
    assert (stored.status, stored.roles) == ("active", ["editor"])


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_simultaneous_registrations_of_one_address_make_one_account(
    database: str, onboarding_on: Any
) -> None:
    onboarding = onboarding_on(database)
    start = threading.Barrier(4)

    def register(_caller: int) -> None:
        try:
            start.wait(timeout=10)
            onboarding.register("pim", registration_form(ANNA), client_address="192.0.2.1")
        finally:
            # Each thread has its own Django connection; it ends with the thread's work.
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(register, range(4)))

    assert AccountRow.objects.using(database).filter(canonical_email=ANNA).count() == 1


class ProvisionGroup:
    """A host's provisioning hook writing a Django model through the step's alias."""

    def __init__(self, *, fail_after_write: bool = False) -> None:
        self.fail_after_write = fail_after_write

    @hookimpl
    def onboardkit_provision_account(
        self, tenant: Tenant, account: Account, transaction: DjangoTransaction
    ) -> None:
        Group.objects.using(transaction.handle).create(name=f"people-of-{account.id}")
        if self.fail_after_write:
            raise RuntimeError("the directory is down")


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_provisioning_hooks_django_write_commits_with_the_approval(
    database: str, onboarding_on: Any
) -> None:
    onboarding = onboarding_on(database, ProvisionGroup())
    confirmed = registered_and_confirmed(onboarding)

    onboarding.approve("pim", confirmed.id, reviewer=REVIEWER, roles=["editor"])

    assert Group.objects.using(database).filter(name=f"people-of-{confirmed.id}").exists()


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_failing_provisioning_hook_rolls_back_its_django_write_and_the_approval(
    database: str, onboarding_on: Any
) -> None:
    onboarding = onboarding_on(database, ProvisionGroup(fail_after_write=True))
    confirmed = registered_and_confirmed(onboarding)

    with pytest.raises(ProvisioningFailed):
        onboarding.approve("pim", confirmed.id, reviewer=REVIEWER, roles=["editor"])

    assert not Group.objects.using(database).exists()
    assert AccountRow.objects.using(database).get(id=confirmed.id).status == "pending_review"
