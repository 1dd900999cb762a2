"""Transports: how a finished mail leaves the process.

A :class:`Transport` has one method, ``send(message)``, which delivers an
:class:`email.message.EmailMessage` or raises. onboardkit ships three:

* :class:`SmtpTransport`: a mail server, over STARTTLS (default), implicit TLS or, for a relay on
  the same machine, plain SMTP; certificates are verified;
* :class:`ConsoleTransport`: prints each mail (development);
* :class:`FolderTransport`: writes each mail as an ``.eml`` file into a folder (development,
  tests, or a pick-up directory of a local mail system).

Plugins add more through the ``onboardkit_mail_transports`` hook; :func:`transport_from_mapping`
picks one by its ``type``. :func:`build_message` turns an outbox row into the message, the same
way for every transport.
"""

from __future__ import annotations

import email.policy
import email.utils
import os
import re
import secrets
import smtplib
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, cast

import attrs

from onboardkit.errors import ConfigurationError, ValidationError
from onboardkit.mail import check_header_value, check_recipient

if TYPE_CHECKING:
    from onboardkit.plugins import Plugins
    from onboardkit.storage import OutboxMail

__all__ = [
    "BUILTIN_TRANSPORTS",
    "ConsoleTransport",
    "FolderTransport",
    "SmtpTransport",
    "Transport",
    "build_message",
    "parse_sender",
    "transport_from_mapping",
]

Security = Literal["starttls", "tls", "none"]
_DEFAULT_PORTS: Mapping[str, int] = {"starttls": 587, "tls": 465, "none": 25}


class Transport(Protocol):
    """Something that delivers mail."""

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` to its ``To`` address, or raise (any exception) when it failed.

        The outbox worker retries a mail whose ``send`` raised, so a transport never retries
        on its own and never swallows an error.
        """


# -- messages ------------------------------------------------------------------------------------

_MAIL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def parse_sender(sender: str, *, key: str = "mail.sender") -> Address:
    """The ``From`` address, as ``Name <address>`` or a bare address.

    :raises ConfigurationError: for anything but one address, with or without a display name.
    """
    try:
        check_header_value(sender, path=key)
        header = email.policy.default.header_factory("From", sender)
        (address,) = cast("tuple[Address, ...]", header.addresses)
        if header.defects or address.username == "" or address.domain == "":
            raise ValueError("not one plain address")
        check_recipient(address.addr_spec, path=key)
        return address
    # AttributeError too: the standard library's header parser raises it on some malformed
    # input, such as ".:".
    except (ValidationError, ValueError, TypeError, IndexError, AttributeError) as error:
        raise ConfigurationError(
            key=key, reason="expected one address, such as Portal <noreply@example.com>"
        ) from error


def build_message(mail: OutboxMail, *, sender: str | Address) -> EmailMessage:
    """The message for an outbox row: headers, and the text with its HTML alternative.

    ``Date`` is when the mail was composed, and ``Message-ID`` is derived from the mail's id, so
    a mail sent again after a failure carries the same id and receivers can recognize it.

    :raises ValidationError: when the recipient or subject is unsafe in a header (the row was
        changed after it was checked on the way in).
    """
    from_address = sender if isinstance(sender, Address) else parse_sender(sender)
    check_recipient(mail.recipient)
    check_header_value(mail.subject, path="subject")
    if not (_MAIL_ID.fullmatch(mail.id) and _MAIL_ID.fullmatch(mail.kind)):
        raise ValueError("an outbox mail's id and kind must be letters, digits, '-' and '_'")
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = from_address
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = email.utils.format_datetime(
        datetime.fromtimestamp(mail.created_at, tz=timezone.utc)
    )
    message["Message-ID"] = f"<{mail.id}.{mail.kind}@{from_address.domain}>"
    # RFC 3834: no vacation replies or other automatic answers to a transactional mail.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    return message


# -- SMTP ----------------------------------------------------------------------------------------


@attrs.frozen
class SmtpTransport:
    """Sends through a mail server with :mod:`smtplib`, one connection per mail.

    :param host: The server's host name (certificates are checked against it).
    :param port: Default by ``security``: 587 (STARTTLS), 465 (TLS) or 25 (none).
    :param security: ``"starttls"`` (upgrade a plain connection; refused if the server does not
        offer it), ``"tls"`` (implicit TLS from the first byte) or ``"none"`` (a relay on the same
        machine; never with credentials).
    :param username: Log in with this name (and ``password``) when given.
    :param password: The password; kept out of ``repr``.
    :param timeout: Seconds for connecting and for each reply of the server.
    :param sender: The envelope sender (``MAIL FROM``, where bounces go); default: the
        ``From`` address of each message.
    :param ssl_context: How to check the server; default: the system's trusted CAs, with
        host-name checking. Pass a context trusting your own CA for a private server.
    :param local_hostname: The name to greet the server with (default: this machine's name).
    """

    host: str
    port: int | None = None
    security: Security = attrs.field(
        default="starttls", validator=attrs.validators.in_(tuple(_DEFAULT_PORTS))
    )
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    timeout: float = 10.0
    sender: str | None = None
    ssl_context: ssl.SSLContext = attrs.field(
        factory=ssl.create_default_context, repr=False, eq=False
    )
    local_hostname: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.security == "none" and (self.username or self.password):
            raise ConfigurationError(
                key="mail.transport.security",
                reason="credentials are sent only over TLS: use starttls or tls",
            )

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else _DEFAULT_PORTS[self.security]

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host,
                self.effective_port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self.ssl_context,
            )
        return smtplib.SMTP(
            self.host, self.effective_port, local_hostname=self.local_hostname, timeout=self.timeout
        )

    def send(self, message: EmailMessage) -> None:
        with self._connect() as client:
            if self.security == "starttls":
                client.ehlo()
                # Raises SMTPNotSupportedError when the server does not offer STARTTLS: a mail
                # with a sign-up link is never sent in the clear because a server said so.
                client.starttls(context=self.ssl_context)
                client.ehlo()
            if self.username is not None:
                client.login(self.username, self.password or "")
            client.send_message(message, from_addr=self.sender)


# -- development transports ----------------------------------------------------------------------

_CONSOLE_LOCK = threading.Lock()


@attrs.frozen
class ConsoleTransport:
    """Prints every mail to ``stream`` (standard output by default), for development only."""

    stream: IO[str] | None = attrs.field(default=None, eq=False)

    def send(self, message: EmailMessage) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        text = message.as_string(policy=email.policy.default)
        with _CONSOLE_LOCK:
            stream.write(text)
            stream.write("\n" + "-" * 79 + "\n")
            stream.flush()


@attrs.frozen
class FolderTransport:
    """Writes every mail as an ``.eml`` file into ``path`` (created when missing).

    Files appear atomically (written to a hidden temporary file, then renamed), so a program
    watching the folder never reads half a mail. Names come from the time and a random part,
    never from anything in the mail. Files are readable by the owner only: they hold live links.
    """

    path: Path = attrs.field(converter=Path)

    def send(self, message: EmailMessage) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        name = f"{stamp}-{secrets.token_hex(8)}.eml"
        data = message.as_bytes(policy=email.policy.SMTP)
        handle, temporary = tempfile.mkstemp(dir=self.path, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


# -- configuration -------------------------------------------------------------------------------

TransportFactory = Callable[[Mapping[str, object]], Transport]


def _table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(key=key, reason="expected a table")
    return value


def _allow_only(table: Mapping[str, Any], allowed: set[str], key: str) -> None:
    for name in table:
        if name not in allowed | {"type"}:
            raise ConfigurationError(key=f"{key}.{name}", reason="unknown setting")


def _text(table: Mapping[str, Any], name: str, key: str, *, required: bool = False) -> str | None:
    value = table.get(name)
    if value is None:
        if required:
            raise ConfigurationError(key=f"{key}.{name}", reason="missing")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(key=f"{key}.{name}", reason="expected a non-empty text")
    return value


def _smtp_from_mapping(table: Mapping[str, Any], key: str) -> SmtpTransport:
    _allow_only(
        table,
        {
            "host",
            "port",
            "security",
            "username",
            "password",
            "password_env",
            "timeout",
            "sender",
            "ca_file",
            "local_hostname",
        },
        key,
    )
    host = _text(table, "host", key, required=True)
    assert host is not None
    port = table.get("port")
    if port is not None and (
        not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536
    ):
        raise ConfigurationError(key=f"{key}.port", reason="expected a port number")
    security = table.get("security", "starttls")
    if security not in _DEFAULT_PORTS:
        raise ConfigurationError(key=f"{key}.security", reason="expected starttls, tls or none")
    timeout = table.get("timeout", 10.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigurationError(key=f"{key}.timeout", reason="expected a number of seconds")
    username = _text(table, "username", key)
    password = _text(table, "password", key)
    password_env = _text(table, "password_env", key)
    if password is not None and password_env is not None:
        raise ConfigurationError(
            key=f"{key}.password_env", reason="give either password or password_env"
        )
    if password_env is not None:
        password = os.environ.get(password_env)
        if not password:
            raise ConfigurationError(
                key=f"{key}.password_env", reason="the environment variable is not set"
            )
    if password is not None and username is None:
        raise ConfigurationError(key=f"{key}.username", reason="missing")
    if security == "none" and username is not None:
        raise ConfigurationError(
            key=f"{key}.security", reason="credentials are sent only over TLS: use starttls or tls"
        )
    sender = _text(table, "sender", key)
    if sender is not None:
        try:
            check_recipient(sender, path=f"{key}.sender")
        except ValidationError as error:
            raise ConfigurationError(
                key=f"{key}.sender", reason="expected a bare address (bounces go there)"
            ) from error
    ca_file = _text(table, "ca_file", key)
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigurationError(
            key=f"{key}.ca_file", reason="cannot read the certificates"
        ) from error
    return SmtpTransport(
        host=host,
        port=port,
        security=security,
        username=username,
        password=password,
        timeout=float(timeout),
        sender=sender,
        ssl_context=context,
        local_hostname=_text(table, "local_hostname", key),
    )


def _console_from_mapping(table: Mapping[str, Any], key: str) -> ConsoleTransport:
    _allow_only(table, {"stream"}, key)
    stream = table.get("stream", "stdout")
    if stream not in ("stdout", "stderr"):
        raise ConfigurationError(key=f"{key}.stream", reason="expected stdout or stderr")
    return ConsoleTransport(sys.stderr if stream == "stderr" else None)


def _folder_from_mapping(table: Mapping[str, Any], key: str) -> FolderTransport:
    _allow_only(table, {"path"}, key)
    path = _text(table, "path", key, required=True)
    assert path is not None
    return FolderTransport(Path(path))


#: The transports onboardkit ships, by ``type``; plugins cannot replace them.
BUILTIN_TRANSPORTS: Mapping[str, Callable[[Mapping[str, Any], str], Transport]] = {
    "smtp": _smtp_from_mapping,
    "console": _console_from_mapping,
    "folder": _folder_from_mapping,
}


def transport_from_mapping(
    mapping: Mapping[str, Any], *, plugins: Plugins | None = None, key: str = "mail.transport"
) -> Transport:
    """The transport a configuration table describes, chosen by its ``type``.

    ``smtp`` reads ``host``, ``port``, ``security``, ``username``, ``password`` (or
    ``password_env``, the name of an environment variable holding it), ``timeout``,
    ``sender``, ``ca_file`` and ``local_hostname``; ``console`` reads ``stream``; ``folder``
    reads ``path``. Any other type is looked up among the plugins' transports.

    :raises ConfigurationError: naming the key of the first problem.
    """
    table = _table(mapping, key)
    kind = table.get("type")
    if not isinstance(kind, str) or not kind:
        raise ConfigurationError(key=f"{key}.type", reason="missing")
    builtin = BUILTIN_TRANSPORTS.get(kind)
    if builtin is not None:
        return builtin(table, key)
    offered = [
        factories[kind]
        for factories in (plugins.mail_transports() if plugins is not None else [])
        if kind in factories
    ]
    if not offered:
        known = ", ".join(sorted(BUILTIN_TRANSPORTS))
        raise ConfigurationError(
            key=f"{key}.type", reason=f"unknown transport (built in: {known}; or a plugin's)"
        )
    if len(offered) > 1:
        raise ConfigurationError(
            key=f"{key}.type", reason="more than one plugin offers this transport"
        )
    return offered[0](table)
