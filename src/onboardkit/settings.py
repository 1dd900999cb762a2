"""Settings: one deployment's configuration, read from TOML and the environment, and wired up.

A deployment is one database, one secret, one or more tenants, one way to send mail and one set of
rate limits. :class:`Settings` reads all of it, checks everything at start-up and raises
:class:`~onboardkit.errors.ConfigurationError` naming the exact key of the first problem
(``mail.outbox.batch``, ``tenants.pim.review.reviewers[0]``). The builders at the bottom turn
settings into working objects: :func:`build_onboarding` for the flows, :func:`build_outbox_worker`
for the mail delivery job. The command line (:mod:`onboardkit.cli`) uses nothing else.

.. code-block:: toml

    database_url = "postgresql+psycopg://onboarding@db/onboarding"
    secret_key_file = "/run/secrets/onboardkit"
    tenants_file = "tenants.toml"

    [mail.transport]
    type = "smtp"
    host = "mail.example.com"

    [rate_limits]
    backend = "redis"
    redis_url = "redis://cache:6379/0"

Three environment variables win over the file: ``ONBOARDKIT_SECRET_KEY``,
``ONBOARDKIT_DATABASE_URL`` and ``ONBOARDKIT_CONFIG`` (the path of the TOML file that
:meth:`Settings.load` reads when given none).

The secret key is text: its UTF-8 bytes are the key material, used as they are (no decoding), so
output of ``python -c "import secrets; print(secrets.token_urlsafe(32))"`` or
``openssl rand -hex 32`` works unchanged. It must have at least 32 characters. Every other secret
of the deployment (consent pseudonyms, partner-code digests, rate-limit digests) is derived from
it with HKDF under its own label. It never appears in a repr, a log or an error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from onboardkit.clock import Clock, system_clock
from onboardkit.errors import ConfigurationError, Message, message
from onboardkit.hashing import PasswordHasher
from onboardkit.ratelimits import RateLimits
from onboardkit.tenants import Tenants
from onboardkit.transports import BUILTIN_TRANSPORTS, parse_sender, transport_from_mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from onboardkit.mail import Mailer
    from onboardkit.onboarding import Onboarding
    from onboardkit.outbox import OutboxWorker
    from onboardkit.plugins import Plugins
    from onboardkit.ratelimits import RateLimitBackend, RateLimiter
    from onboardkit.sqlstore import SqlStore
    from onboardkit.storage import Store
    from onboardkit.transports import Transport

__all__ = [
    "CONFIG_ENV",
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "MIN_SECRET_KEY_LENGTH",
    "SECRET_KEY_ENV",
    "MailSettings",
    "Settings",
    "build_mailer",
    "build_onboarding",
    "build_outbox_worker",
    "build_plugins",
    "build_rate_limiter",
    "build_store",
    "build_transport",
    "derive_secret",
]

#: The embedded default: a SQLite file in the current folder.
DEFAULT_DATABASE_URL: Final = "sqlite:///onboardkit.sqlite3"
SECRET_KEY_ENV: Final = "ONBOARDKIT_SECRET_KEY"  # noqa: S105 - a variable's name
DATABASE_URL_ENV: Final = "ONBOARDKIT_DATABASE_URL"
CONFIG_ENV: Final = "ONBOARDKIT_CONFIG"
MIN_SECRET_KEY_LENGTH: Final = 32
_MAX_SECRET_KEY_LENGTH: Final = 1024
# Fewer distinct characters than this in 32 or more is a placeholder ("xxxx...", "changeme..."),
# not random output: 32 random hex digits show 8 or fewer distinct ones with odds below 1e-9.
_MIN_DISTINCT_CHARACTERS: Final = 8

RateLimitBackendName = Literal["database", "redis", "off"]
_RATE_LIMIT_BACKENDS: Final[tuple[RateLimitBackendName, ...]] = ("database", "redis", "off")

_TOP_LEVEL_KEYS: Final = frozenset(
    {
        "database_url",
        "database",
        "secret_key",
        "secret_key_file",
        "tenants",
        "tenants_file",
        "template_folders",
        "mail",
        "rate_limits",
        "partners",
        "password_hashing",
        "signing_keys",
    }
)
_DATABASE_KEYS: Final = frozenset({"busy_timeout", "wal", "pool_size", "auto_migrate"})
_MAIL_KEYS: Final = frozenset({"transport", "sender", "senders", "outbox"})
_OUTBOX_KEYS: Final = frozenset(
    {"lease", "batch", "max_attempts", "backoff_base", "backoff_cap", "idle_sleep"}
)
_PARTNER_KEYS: Final = frozenset({"timeout", "max_workers", "reject_mistyped"})
_SIGNING_KEY_KEYS: Final = frozenset({"refresh", "keep"})

# -- reasons (the ``reason`` of a ConfigurationError, shown after the key) -------------------

UNKNOWN_SETTING = message("settings.unknown_setting", "is not a known setting")
EXPECTED_TABLE = message("settings.expected_table", "expected a table")
EXPECTED_TEXT = message("settings.expected_text", "expected a non-empty text on one line")
EXPECTED_FLAG = message("settings.expected_flag", "expected true or false")
EXPECTED_SECONDS = message("settings.expected_seconds", "expected a positive number of seconds")
EXPECTED_COUNT = message("settings.expected_count", "expected a whole number of at least 1")
EXPECTED_FOLDERS = message("settings.expected_folders", "expected a list of folder paths")
SECRET_MISSING = message(
    "settings.secret_missing",
    "missing: set ONBOARDKIT_SECRET_KEY, secret_key_file or secret_key "
    "(at least 32 random characters)",
)
SECRET_TOO_SHORT = message(
    "settings.secret_too_short", "the secret key must have at least 32 characters"
)
SECRET_TOO_LONG = message(
    "settings.secret_too_long", "the secret key must have at most 1024 characters"
)
SECRET_NOT_RANDOM = message(
    "settings.secret_not_random",
    "the secret key looks like a placeholder; generate one with "
    'python -c "import secrets; print(secrets.token_urlsafe(32))"',
)
SECRET_CONTROL = message(
    "settings.secret_control", "the secret key must be one line of printable characters"
)
SECRET_TWICE = message(
    "settings.secret_twice", "give either secret_key or secret_key_file, not both"
)
FILE_UNREADABLE = message("settings.file_unreadable", "the file cannot be read")
TOML_INVALID = message("settings.toml_invalid", "the file is not valid TOML")
TENANTS_TWICE = message(
    "settings.tenants_twice", "give the tenants inline or in tenants_file, not both"
)
TENANTS_MISSING = message(
    "settings.tenants_missing", "missing: declare [tenants.<id>] tables or a tenants_file"
)
DATABASE_URL_INVALID = message(
    "settings.database_url_invalid", "expected a database URL such as sqlite:///onboardkit.sqlite3"
)
BACKEND_UNKNOWN = message("settings.backend_unknown", 'expected "database", "redis" or "off"')
REDIS_URL_MISSING = message(
    "settings.redis_url_missing", 'missing: the "redis" backend needs a redis_url'
)
REDIS_URL_INVALID = message(
    "settings.redis_url_invalid", "expected a URL such as redis://localhost:6379/0"
)
BACKOFF_ORDER = message("settings.backoff_order", "must not be smaller than backoff_base")
SENDER_INVALID = message(
    "settings.sender_invalid", "expected one address, such as Portal <noreply@example.com>"
)
SENDER_TENANT_UNKNOWN = message(
    "settings.sender_tenant_unknown", "names no tenant of this configuration"
)
TRANSPORT_MISSING = message(
    "settings.transport_missing", "missing: configure [mail.transport] to deliver mail"
)
# Its German text lives in its own catalog (settings_store.po), apart from settings.po.
BACKEND_NEEDS_SQL_STORE = message(
    "settings.backend_needs_sql_store",
    'the "database" backend needs the SQL store; with another store, pass a rate-limit '
    'backend or choose "redis" or "off"',
)


def _fail(key: str, reason: Message | str) -> ConfigurationError:
    return ConfigurationError(key=key, reason=reason)


def _table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(key, EXPECTED_TABLE)
    return value


def _only(table: Mapping[str, Any], allowed: frozenset[str], key: str) -> None:
    for name in table:
        if name not in allowed:
            raise _fail(f"{key}.{name}" if key else str(name), UNKNOWN_SETTING)


def _text(value: object, key: str, *, max_length: int = 2000) -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > max_length
        or any(ord(char) < 32 or ord(char) == 127 for char in value)
    ):
        raise _fail(key, EXPECTED_TEXT)
    return value.strip()


def _flag(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, EXPECTED_FLAG)
    return value


def _seconds(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86_400:
        raise _fail(key, EXPECTED_SECONDS)
    return float(value)


def _count(value: object, key: str, maximum: int = 1_000_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise _fail(key, EXPECTED_COUNT)
    return value


def _resolve(path: str, base_dir: Path | None) -> Path:
    candidate = Path(path).expanduser()
    if base_dir is not None and not candidate.is_absolute():
        return base_dir / candidate
    return candidate


def _read_toml(path: Path, key: str) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise _fail(key, FILE_UNREADABLE) from None
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # The parser's message says where (line and column); it never quotes the values.
        raise _fail(key, f"{TOML_INVALID.template}: {error}") from None
    return document


# -- the secret --------------------------------------------------------------------------------


def secret_key_problem(text: str) -> Message | None:
    """Why ``text`` cannot be the deployment's secret key, or ``None`` when it can."""
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        return SECRET_CONTROL
    if len(text) < MIN_SECRET_KEY_LENGTH:
        return SECRET_TOO_SHORT
    if len(text) > _MAX_SECRET_KEY_LENGTH:
        return SECRET_TOO_LONG
    if len(set(text)) < _MIN_DISTINCT_CHARACTERS:
        return SECRET_NOT_RANDOM
    return None


def _secret_key(
    data: Mapping[str, Any], environ: Mapping[str, str], base_dir: Path | None
) -> bytes:
    from_env = environ.get(SECRET_KEY_ENV)
    if from_env is not None and from_env.strip():
        text, key = from_env.strip(), SECRET_KEY_ENV
    elif "secret_key" in data and "secret_key_file" in data:
        raise _fail("secret_key_file", SECRET_TWICE)
    elif "secret_key_file" in data:
        key = "secret_key_file"
        path = _resolve(_text(data["secret_key_file"], key), base_dir)
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise _fail(key, FILE_UNREADABLE) from None
    elif "secret_key" in data:
        key = "secret_key"
        value = data["secret_key"]
        if not isinstance(value, str):
            raise _fail(key, EXPECTED_TEXT)
        text = value.strip()
    else:
        raise _fail("secret_key", SECRET_MISSING)
    problem = secret_key_problem(text)
    if problem is not None:
        raise _fail(key, problem)
    return text.encode("utf-8")


def derive_secret(secret_key: bytes, label: str, length: int = 32) -> bytes:
    """A key for one purpose (``label``), derived from the deployment's secret with HKDF-SHA256.

    Keys derived under different labels are independent: knowing one tells nothing of another
    or of the secret key.
    """
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None, info=label.encode("utf-8")
    ).derive(secret_key)


# -- the database ------------------------------------------------------------------------------


def _database_url(data: Mapping[str, Any], environ: Mapping[str, str]) -> tuple[str, str]:
    from_env = environ.get(DATABASE_URL_ENV)
    if from_env is not None and from_env.strip():
        url, key = from_env.strip(), DATABASE_URL_ENV
    else:
        key = "database_url"
        raw = data.get("database_url", DEFAULT_DATABASE_URL)
        if not isinstance(raw, str) or not raw.strip():
            raise _fail(key, DATABASE_URL_INVALID)
        url = raw.strip()
    check_database_url(url, key=key)
    return url, key


def check_database_url(url: str, *, key: str = "database_url") -> None:
    """Refuse anything that is not a URL of a database onboardkit supports (no connection)."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise _fail(key, DATABASE_URL_INVALID) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise _fail(key, DATABASE_URL_INVALID)


def redacted_url(url: str) -> str:
    """The URL with its password masked, for summaries and logs."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(not a URL)"


# -- mail --------------------------------------------------------------------------------------


@attrs.frozen
class MailSettings:
    """How mail leaves: the transport table, the senders, and the outbox worker's options.

    :param transport: The ``[mail.transport]`` table (see
        :func:`onboardkit.transports.transport_from_mapping`), or ``None`` when this deployment
        does not deliver mail itself. It may hold a password and is never shown.
    :param sender: The ``From`` of mails of tenants without an entry in ``senders``; by default
        each tenant sends as its own ``sender`` with its display name.
    :param senders: A ``From`` per tenant id, overriding the tenant's own.
    :param lease: Seconds a claimed mail stays hidden from other workers.
    :param batch: Mails one round claims at most.
    :param max_attempts: Failed attempts after which a mail is given up.
    :param backoff_base: Seconds before the first retry; doubles with every failure.
    :param backoff_cap: The longest wait between retries.
    :param idle_sleep: Seconds a looping worker waits when nothing was due.
    """

    transport: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    sender: str | None = None
    senders: Mapping[str, str] = attrs.field(factory=dict)
    lease: float = 60.0
    batch: int = 20
    max_attempts: int = 10
    backoff_base: float = 30.0
    backoff_cap: float = 6 * 3600.0
    idle_sleep: float = 5.0

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        tenants: Tenants,
        base_dir: Path | None = None,
        key: str = "mail",
    ) -> MailSettings:
        """Read the ``[mail]`` table: ``transport``, ``sender``, ``senders``, ``outbox``.

        A built-in transport (smtp, console, folder) is checked here; a plugin's transport
        when the worker is built (:func:`build_transport`), once the plugins are loaded.

        :raises ConfigurationError: naming the key of the first problem.
        """
        table = _table(data, key)
        _only(table, _MAIL_KEYS, key)
        transport: Mapping[str, Any] | None = None
        if "transport" in table:
            transport = dict(_table(table["transport"], f"{key}.transport"))
            if transport.get("type") == "folder" and isinstance(transport.get("path"), str):
                # A relative folder is relative to the configuration file, like every path.
                transport["path"] = str(_resolve(transport["path"], base_dir))
            kind = transport.get("type")
            if not isinstance(kind, str) or kind in BUILTIN_TRANSPORTS:
                # Built-ins (and a missing type) are checked now; a plugin's type once the
                # plugins are loaded (build_transport).
                transport_from_mapping(transport, key=f"{key}.transport")
        sender = None
        if "sender" in table:
            sender = _sender(table["sender"], f"{key}.sender")
        senders: dict[str, str] = {}
        for tenant, address in _table(table.get("senders", {}), f"{key}.senders").items():
            if tenant not in tenants:
                raise _fail(f"{key}.senders.{tenant}", SENDER_TENANT_UNKNOWN)
            senders[tenant] = _sender(address, f"{key}.senders.{tenant}")
        outbox = _table(table.get("outbox", {}), f"{key}.outbox")
        _only(outbox, _OUTBOX_KEYS, f"{key}.outbox")
        defaults = cls()
        lease = _seconds(outbox.get("lease", defaults.lease), f"{key}.outbox.lease")
        batch = _count(outbox.get("batch", defaults.batch), f"{key}.outbox.batch", 10_000)
        max_attempts = _count(
            outbox.get("max_attempts", defaults.max_attempts), f"{key}.outbox.max_attempts", 1000
        )
        backoff_base = _seconds(
            outbox.get("backoff_base", defaults.backoff_base), f"{key}.outbox.backoff_base"
        )
        backoff_cap = _seconds(
            outbox.get("backoff_cap", defaults.backoff_cap), f"{key}.outbox.backoff_cap"
        )
        if backoff_cap < backoff_base:
            raise _fail(f"{key}.outbox.backoff_cap", BACKOFF_ORDER)
        idle_sleep = _seconds(
            outbox.get("idle_sleep", defaults.idle_sleep), f"{key}.outbox.idle_sleep"
        )
        return cls(
            transport=transport,
            sender=sender,
            senders=senders,
            lease=lease,
            batch=batch,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            idle_sleep=idle_sleep,
        )

    @property
    def transport_type(self) -> str | None:
        """The transport's ``type`` (``smtp``, ``folder``, a plugin's), or ``None``."""
        if self.transport is None:
            return None
        kind = self.transport.get("type")
        return kind if isinstance(kind, str) else None


def _sender(value: object, key: str) -> str:
    text = _text(value, key, max_length=320)
    try:
        parse_sender(text, key=key)
    except ConfigurationError:
        raise _fail(key, SENDER_INVALID) from None
    return text


def _tenant_sender(display_name: str, address: str) -> str:
    """``"Display Name" <address>``, quoted so that commas or dots in the name stay the name's."""
    name = display_name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{name}" <{address}>'


# -- settings ----------------------------------------------------------------------------------


def _folders(value: object, key: str, base_dir: Path | None) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(key, EXPECTED_FOLDERS)
    return tuple(
        str(_resolve(_text(item, f"{key}[{index}]"), base_dir)) for index, item in enumerate(value)
    )


@attrs.frozen
class Settings:
    """One deployment's complete, checked configuration (see the module documentation).

    Make it with :meth:`load`, :meth:`from_toml` or :meth:`from_mapping`. Secrets (the secret
    key, the database and Redis URLs, the mail transport's table) are left out of the repr.
    """

    secret_key: bytes = attrs.field(repr=False)
    tenants: Tenants = attrs.field(repr=False)
    database_url: str = attrs.field(default=DEFAULT_DATABASE_URL, repr=False)
    busy_timeout: float = 30.0
    wal: bool = True
    pool_size: int | None = None
    auto_migrate: bool = True
    template_folders: tuple[str, ...] = ()
    mail: MailSettings = MailSettings()
    rate_limits: RateLimits = attrs.field(factory=RateLimits.defaults, repr=False)
    rate_limit_backend: RateLimitBackendName = "database"
    redis_url: str | None = attrs.field(default=None, repr=False)
    partner_timeout: float = 5.0
    partner_max_workers: int = 8
    reject_mistyped_partner_codes: bool = True
    hasher: PasswordHasher = attrs.field(factory=PasswordHasher)
    key_refresh: float = 60.0
    keep_keys: int = 3
    #: The TOML file these settings came from, if any.
    source: Path | None = None

    @property
    def database_backend(self) -> str:
        """``sqlite``, ``postgresql``, ``mysql`` or ``mariadb``."""
        return sa.make_url(self.database_url).get_backend_name()

    @property
    def redacted_database_url(self) -> str:
        """The database URL with its password masked."""
        return redacted_url(self.database_url)

    def sender_for(self, tenant_id: str) -> str:
        """The ``From`` of the tenant's mail: ``mail.senders``, else its own sender and name."""
        if tenant_id in self.mail.senders:
            return self.mail.senders[tenant_id]
        tenant = self.tenants.get(tenant_id)
        if tenant is None:
            return self.default_sender
        return _tenant_sender(tenant.branding.display_name, tenant.sender)

    @property
    def default_sender(self) -> str:
        """The ``From`` of mails whose tenant is not configured (any more)."""
        if self.mail.sender is not None:
            return self.mail.sender
        first = next(iter(self.tenants.values()))
        return _tenant_sender(first.branding.display_name, first.sender)

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        environ: Mapping[str, str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        source: Path | None = None,
    ) -> Settings:
        """Settings from a mapping shaped like the TOML file (see the configuration docs).

        :param environ: Where ``ONBOARDKIT_SECRET_KEY`` and ``ONBOARDKIT_DATABASE_URL`` are
            read (default ``os.environ``); they win over the mapping.
        :param base_dir: The folder relative paths (``tenants_file``, ``template_folders``,
            ``secret_key_file``) are relative to; default the current folder.
        :raises ConfigurationError: naming the exact key of the first problem.
        """
        env = os.environ if environ is None else environ
        base = Path(base_dir) if base_dir is not None else None
        table = _table(data, "settings")
        _only(table, _TOP_LEVEL_KEYS, "")

        secret_key = _secret_key(table, env, base)
        database_url, _ = _database_url(table, env)
        database = _table(table.get("database", {}), "database")
        _only(database, _DATABASE_KEYS, "database")
        busy_timeout = _seconds(database.get("busy_timeout", 30.0), "database.busy_timeout")
        wal = _flag(database.get("wal", True), "database.wal")
        pool_size = (
            _count(database["pool_size"], "database.pool_size", 1000)
            if "pool_size" in database
            else None
        )
        auto_migrate = _flag(database.get("auto_migrate", True), "database.auto_migrate")

        tenants = _tenants(table, base)
        template_folders = _folders(table.get("template_folders", []), "template_folders", base)
        mail = MailSettings.from_mapping(table.get("mail", {}), tenants=tenants, base_dir=base)

        limits_table = dict(_table(table.get("rate_limits", {}), "rate_limits"))
        backend = limits_table.pop("backend", "database")
        if backend not in _RATE_LIMIT_BACKENDS:
            raise _fail("rate_limits.backend", BACKEND_UNKNOWN)
        redis_url = limits_table.pop("redis_url", None)
        if redis_url is not None:
            redis_url = _text(redis_url, "rate_limits.redis_url")
            if not redis_url.startswith(("redis://", "rediss://", "unix://")):
                raise _fail("rate_limits.redis_url", REDIS_URL_INVALID)
        if backend == "redis" and redis_url is None:
            raise _fail("rate_limits.redis_url", REDIS_URL_MISSING)
        rate_limits = RateLimits.from_mapping(limits_table)

        partners = _table(table.get("partners", {}), "partners")
        _only(partners, _PARTNER_KEYS, "partners")
        partner_timeout = partners.get("timeout", 5.0)
        if (
            isinstance(partner_timeout, bool)
            or not isinstance(partner_timeout, (int, float))
            or not 0 < partner_timeout <= 600
        ):
            raise _fail("partners.timeout", EXPECTED_SECONDS)
        partner_max_workers = _count(partners.get("max_workers", 8), "partners.max_workers", 256)
        reject_mistyped = _flag(partners.get("reject_mistyped", True), "partners.reject_mistyped")

        hasher = PasswordHasher.from_mapping(
            _table(table.get("password_hashing", {}), "password_hashing"), key="password_hashing"
        )
        signing = _table(table.get("signing_keys", {}), "signing_keys")
        _only(signing, _SIGNING_KEY_KEYS, "signing_keys")
        key_refresh = _seconds(signing.get("refresh", 60.0), "signing_keys.refresh")
        keep_keys = _count(signing.get("keep", 3), "signing_keys.keep", 100)

        return cls(
            secret_key=secret_key,
            tenants=tenants,
            database_url=database_url,
            busy_timeout=busy_timeout,
            wal=wal,
            pool_size=pool_size,
            auto_migrate=auto_migrate,
            template_folders=template_folders,
            mail=mail,
            rate_limits=rate_limits,
            rate_limit_backend=backend,
            redis_url=redis_url,
            partner_timeout=float(partner_timeout),
            partner_max_workers=partner_max_workers,
            reject_mistyped_partner_codes=reject_mistyped,
            hasher=hasher,
            key_refresh=key_refresh,
            keep_keys=keep_keys,
            source=source,
        )

    @classmethod
    def from_toml(
        cls, path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Settings from a TOML file; relative paths in it are relative to its folder.

        :raises ConfigurationError: the file's path when it cannot be read or parsed, else the
            exact key of the first problem.
        """
        file = Path(path)
        data = _read_toml(file, str(file))
        return cls.from_mapping(data, environ=environ, base_dir=file.resolve().parent, source=file)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Settings from ``path``, else from the file ``ONBOARDKIT_CONFIG`` names, else from
        ``onboardkit.toml`` in the current folder.

        :raises ConfigurationError: ``ONBOARDKIT_CONFIG`` (or the path) when there is no file.
        """
        env = os.environ if environ is None else environ
        if path is not None:
            return cls.from_toml(path, environ=env)
        configured = env.get(CONFIG_ENV, "").strip()
        if configured:
            file = Path(configured)
            if not file.is_file():
                raise _fail(CONFIG_ENV, FILE_UNREADABLE)
            return cls.from_toml(file, environ=env)
        return cls.from_toml(Path("onboardkit.toml"), environ=env)


def _tenants(table: Mapping[str, Any], base_dir: Path | None) -> Tenants:
    if "tenants" in table and "tenants_file" in table:
        raise _fail("tenants_file", TENANTS_TWICE)
    if "tenants_file" in table:
        path = _resolve(_text(table["tenants_file"], "tenants_file"), base_dir)
        document = _read_toml(path, "tenants_file")
        if "tenants" not in document:
            raise _fail("tenants", TENANTS_MISSING)
        return Tenants.from_mapping(_table(document["tenants"], "tenants"), key="tenants")
    if "tenants" not in table:
        raise _fail("tenants", TENANTS_MISSING)
    return Tenants.from_mapping(_table(table["tenants"], "tenants"), key="tenants")


# -- wiring ------------------------------------------------------------------------------------

#: The HKDF label of the rate limiter's digest key.
RATE_LIMIT_LABEL: Final = "onboardkit rate-limit digests v1"


def build_plugins() -> Plugins:
    """The installed plugins (built-ins and the ``onboardkit`` entry points)."""
    from onboardkit.plugins import Plugins

    return Plugins.load()


def build_store(settings: Settings, *, migrate: bool | None = None) -> SqlStore:
    """The SQL store of ``settings.database_url``, migrated when ``database.auto_migrate``
    (or ``migrate``) says so. Connecting happens on first use.
    """
    from onboardkit.sqlstore import SqlStore

    options: dict[str, Any] = {}
    if settings.pool_size is not None and settings.database_backend != "sqlite":
        options["pool_size"] = settings.pool_size
    store = SqlStore.from_url(
        settings.database_url, busy_timeout=settings.busy_timeout, wal=settings.wal, **options
    )
    if settings.auto_migrate if migrate is None else migrate:
        store.migrate()
    return store


def build_transport(settings: Settings, plugins: Plugins | None = None) -> Transport:
    """The configured mail transport, a plugin's one included.

    :raises ConfigurationError: ``mail.transport`` when none is configured, or naming the key of
        the first problem.
    """
    if settings.mail.transport is None:
        raise _fail("mail.transport", TRANSPORT_MISSING)
    return transport_from_mapping(settings.mail.transport, plugins=plugins, key="mail.transport")


def build_outbox_worker(
    settings: Settings,
    store: Store,
    *,
    plugins: Plugins | None = None,
    transport: Transport | None = None,
    clock: Clock = system_clock,
) -> OutboxWorker:
    """The outbox worker with the configured transport (or ``transport``), senders and options.

    Each tenant's mail goes out from ``mail.senders.<id>``, else from the tenant's own sender
    under its display name.
    """
    from onboardkit.outbox import OutboxWorker

    return OutboxWorker(
        store,
        transport if transport is not None else build_transport(settings, plugins),
        clock,
        sender=settings.default_sender,
        senders={tenant_id: settings.sender_for(tenant_id) for tenant_id in settings.tenants},
        lease=settings.mail.lease,
        batch=settings.mail.batch,
        max_attempts=settings.mail.max_attempts,
        backoff=(settings.mail.backoff_base, settings.mail.backoff_cap),
    )


def build_rate_limiter(
    settings: Settings,
    store: Store | None = None,
    *,
    backend: RateLimitBackend | None = None,
    clock: Clock = system_clock,
) -> RateLimiter | None:
    """The rate limiter, or ``None`` for ``rate_limits.backend = "off"``.

    :param store: The deployment's store; the ``"database"`` backend counts in its tables,
        which only :class:`~onboardkit.sqlstore.SqlStore` has.
    :param backend: Counters of the host's own choosing (any
        :class:`~onboardkit.ratelimits.RateLimitBackend`), used instead of the one
        ``rate_limits.backend`` names; ``"off"`` still switches limiting off.
    :raises ConfigurationError: ``rate_limits.backend`` when it is ``"database"``, no
        ``backend`` is given and ``store`` is not a SQL store.
    """
    from onboardkit.ratelimits import RateLimiter, RedisRateLimitBackend, SqlRateLimitBackend
    from onboardkit.sqlstore import SqlStore

    if settings.rate_limit_backend == "off":
        return None
    if backend is None:
        if settings.rate_limit_backend == "redis":
            assert settings.redis_url is not None  # checked when the settings were read
            backend = RedisRateLimitBackend(settings.redis_url)
        elif isinstance(store, SqlStore):
            backend = SqlRateLimitBackend(store.engine)
        else:
            raise _fail("rate_limits.backend", BACKEND_NEEDS_SQL_STORE)
    return RateLimiter(
        settings.rate_limits,
        backend,
        clock,
        secret=derive_secret(settings.secret_key, RATE_LIMIT_LABEL),
    )


def build_mailer(
    settings: Settings, plugins: Plugins | None = None, *, clock: Clock = system_clock
) -> Mailer:
    """The mailer, rendering from ``template_folders`` first, then plugins', then the defaults."""
    from onboardkit.mail import Mailer, MailRenderer

    return Mailer(MailRenderer(settings.template_folders, plugins=plugins), clock=clock)


def build_onboarding(
    settings: Settings,
    *,
    plugins: Plugins | None = None,
    clock: Clock = system_clock,
    store: Store | None = None,
    rate_limit_backend: RateLimitBackend | None = None,
) -> Onboarding:
    """The onboarding service of this deployment, wired from ``settings``.

    Opens (and, with ``database.auto_migrate``, migrates) the SQL store unless a store is given,
    loads the plugins unless given, and builds the mailer, the rate limiter, partner-code
    resolution and the password hasher.

    :param store: Any :class:`~onboardkit.storage.Store` (a framework plugin's own, say);
        it is used as it is, without migrating.
    :param rate_limit_backend: The rate limiter's counters, instead of the one
        ``rate_limits.backend`` names (see :func:`build_rate_limiter`). A store other than
        :class:`~onboardkit.sqlstore.SqlStore` needs one unless the backend is ``"redis"``
        or ``"off"``.
    :raises ConfigurationError: ``rate_limits.backend`` when the ``"database"`` backend is
        configured for a store that is not a SQL store and no ``rate_limit_backend`` is given.
    """
    from onboardkit.onboarding import Onboarding

    store = store if store is not None else build_store(settings)
    # Checked before the plugins load: a wiring mistake is reported before anything starts.
    limiter = build_rate_limiter(settings, store, backend=rate_limit_backend, clock=clock)
    plugins = plugins if plugins is not None else build_plugins()
    return Onboarding(
        settings.tenants,
        store,
        secret=settings.secret_key,
        plugins=plugins,
        hasher=settings.hasher,
        mailer=build_mailer(settings, plugins, clock=clock),
        limiter=limiter,
        partner_timeout=settings.partner_timeout,
        partner_workers=settings.partner_max_workers,
        reject_mistyped_partner_codes=settings.reject_mistyped_partner_codes,
        clock=clock,
        key_refresh=settings.key_refresh,
    )
