"""Transports against a real SMTP server (aiosmtpd on 127.0.0.1): plain, STARTTLS, TLS, AUTH."""

from __future__ import annotations

import datetime
import email
import email.policy
import io
import ipaddress
import os
import re
import smtplib
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import example, given, settings
from hypothesis import strategies as st

from onboardkit import hookimpl
from onboardkit.errors import ConfigurationError, ValidationError
from onboardkit.storage import OutboxMail
from onboardkit.testing import make_plugins
from onboardkit.testing.mail import LocalSmtpServer
from onboardkit.transports import (
    ConsoleTransport,
    FolderTransport,
    SmtpTransport,
    build_message,
    parse_sender,
    transport_from_mapping,
)

SENDER = "Acme Portal <noreply@acme.example>"


def outbox_mail(**changes: object) -> OutboxMail:
    values: dict[str, object] = {
        "id": "0123456789abcdef0123456789abcdef",
        "tenant": "acme",
        "kind": "confirmation",
        "recipient": "ada@example.org",
        "subject": "Bitte bestätigen Sie Ihre E-Mail-Adresse",
        "text": "Guten Tag,\n\nhttps://portal.example.com/confirm?token=abc\n",
        "html": "<p>Guten Tag,</p><p><a href='https://portal.example.com/c'>Bestätigen</a></p>",
        "created_at": 1_800_000_000.0,
        "next_attempt_at": 1_800_000_000.0,
    }
    values.update(changes)
    return OutboxMail(**values)  # type: ignore[arg-type]


# -- a real SMTP server ----------------------------------------------------------------------------


@attrs.frozen
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_file))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


@pytest.fixture
def plain_server() -> Iterator[LocalSmtpServer]:
    with LocalSmtpServer() as server:
        yield server


@pytest.fixture
def starttls_server(certificate) -> Iterator[LocalSmtpServer]:
    with LocalSmtpServer(tls_context=certificate.server_context(), require_starttls=True) as server:
        yield server


USERS = {"mailer": "correct horse battery staple"}


def authenticate(server, session, envelope, mechanism, auth_data):
    if (
        isinstance(auth_data, LoginPassword)
        and USERS.get(auth_data.login.decode()) == auth_data.password.decode()
    ):
        return AuthResult(success=True, auth_data=auth_data.login.decode())
    return AuthResult(success=False, handled=False)


@pytest.fixture
def auth_server(certificate) -> Iterator[LocalSmtpServer]:
    with LocalSmtpServer(
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    ) as server:
        yield server


# -- SMTP ----------------------------------------------------------------------------------------


def test_a_mail_reaches_a_plain_local_relay(plain_server):
    transport = SmtpTransport("127.0.0.1", plain_server.port, security="none", timeout=5)
    transport.send(build_message(outbox_mail(), sender=SENDER))
    (received,) = plain_server.received
    assert (received.mail_from, received.recipients) == (
        "noreply@acme.example",
        ("ada@example.org",),
    )
    message = received.message
    assert message["Subject"] == "Bitte bestätigen Sie Ihre E-Mail-Adresse"
    assert message["To"] == "ada@example.org"
    assert message["From"] == SENDER


def test_the_message_holds_text_and_html_as_alternatives(plain_server):
    transport = SmtpTransport("127.0.0.1", plain_server.port, security="none", timeout=5)
    transport.send(build_message(outbox_mail(), sender=SENDER))
    (message,) = plain_server.messages
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    # Mail travels with CR LF line ends.
    assert text.get_content().replace("\r\n", "\n") == outbox_mail().text
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == outbox_mail().html
    assert message["Message-ID"] == "<0123456789abcdef0123456789abcdef.confirmation@acme.example>"
    assert message["Date"].datetime == datetime.datetime.fromtimestamp(
        1_800_000_000, tz=datetime.timezone.utc
    )
    assert message["Auto-Submitted"] == "auto-generated"


def test_the_envelope_sender_can_differ_from_the_from_address(plain_server):
    transport = SmtpTransport(
        "127.0.0.1", plain_server.port, security="none", sender="bounces@acme.example"
    )
    transport.send(build_message(outbox_mail(), sender=SENDER))
    assert plain_server.received[0].mail_from == "bounces@acme.example"


def test_starttls_delivers_over_a_verified_connection(starttls_server, certificate):
    transport = SmtpTransport(
        "127.0.0.1",
        starttls_server.port,
        security="starttls",
        ssl_context=certificate.client_context(),
        timeout=5,
    )
    transport.send(build_message(outbox_mail(), sender=SENDER))
    assert len(starttls_server.received) == 1


def test_starttls_refuses_a_certificate_nobody_vouches_for(starttls_server):
    transport = SmtpTransport("127.0.0.1", starttls_server.port, security="starttls", timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError):
        transport.send(build_message(outbox_mail(), sender=SENDER))
    assert starttls_server.received == []


def test_starttls_never_falls_back_to_plain_text(plain_server, certificate):
    transport = SmtpTransport(
        "127.0.0.1", plain_server.port, ssl_context=certificate.client_context(), timeout=5
    )
    with pytest.raises(smtplib.SMTPNotSupportedError):
        transport.send(build_message(outbox_mail(), sender=SENDER))
    assert plain_server.received == []


def test_implicit_tls_delivers(certificate):
    with LocalSmtpServer(ssl_context=certificate.server_context()) as server:
        transport = SmtpTransport(
            "127.0.0.1",
            server.port,
            security="tls",
            ssl_context=certificate.client_context(),
            timeout=5,
        )
        transport.send(build_message(outbox_mail(), sender=SENDER))
        assert len(server.received) == 1


def test_smtp_auth_logs_in_over_starttls(auth_server, certificate):
    transport = SmtpTransport(
        "127.0.0.1",
        auth_server.port,
        username="mailer",
        password=USERS["mailer"],
        ssl_context=certificate.client_context(),
        timeout=5,
    )
    transport.send(build_message(outbox_mail(), sender=SENDER))
    assert len(auth_server.received) == 1


def test_a_wrong_password_fails_and_sends_nothing(auth_server, certificate):
    transport = SmtpTransport(
        "127.0.0.1",
        auth_server.port,
        username="mailer",
        password="wrong",
        ssl_context=certificate.client_context(),
        timeout=5,
    )
    with pytest.raises(smtplib.SMTPAuthenticationError):
        transport.send(build_message(outbox_mail(), sender=SENDER))
    assert auth_server.received == []


def test_an_unreachable_server_raises():
    with LocalSmtpServer() as server:
        port = server.port
    with pytest.raises(ConnectionRefusedError):
        SmtpTransport("127.0.0.1", port, security="none", timeout=2).send(
            build_message(outbox_mail(), sender=SENDER)
        )


def test_credentials_are_never_sent_without_tls():
    with pytest.raises(ConfigurationError):
        SmtpTransport("127.0.0.1", 25, security="none", username="u", password="p")


def test_the_password_is_not_in_the_repr():
    transport = SmtpTransport("smtp.example.com", username="u", password="s3cret-password")
    assert "s3cret-password" not in repr(transport)
    assert transport.effective_port == 587


# -- building the message ------------------------------------------------------------------------


def test_a_mail_sent_again_carries_the_same_message_id():
    first = build_message(outbox_mail(), sender=SENDER)
    second = build_message(outbox_mail(attempts=3), sender=SENDER)
    assert first["Message-ID"] == second["Message-ID"]


def test_a_text_only_mail_is_not_multipart():
    message = build_message(outbox_mail(html=None), sender=SENDER)
    assert message.get_content_type() == "text/plain"


@pytest.mark.parametrize(
    "changes",
    [
        {"recipient": "ada@example.org\r\nBcc: all@example.com"},
        {"recipient": "ada@example.org, eve@example.com"},
        {"subject": "Hello\r\nBcc: all@example.com"},
        {"kind": "x\r\nBcc: all@example.com"},
    ],
)
def test_a_tampered_outbox_row_cannot_inject_headers(changes):
    with pytest.raises((ValidationError, ValueError)):
        build_message(outbox_mail(**changes), sender=SENDER)


@pytest.mark.parametrize(
    "sender",
    ["", "not an address", "a@example.com, b@example.com", "Portal <a@example.com>\r\nBcc: x@y.z"],
)
def test_a_sender_must_be_one_address(sender):
    with pytest.raises(ConfigurationError):
        parse_sender(sender)


@given(st.text(max_size=60))
@example(".:")
@example("0.:")
def test_no_sender_with_a_line_break_is_accepted(text):
    try:
        address = parse_sender(text)
    except ConfigurationError:
        return
    assert "\n" not in text
    assert "\r" not in text
    assert "@" in address.addr_spec


# -- console and folder ----------------------------------------------------------------------------


def test_the_console_transport_prints_a_readable_mail():
    stream = io.StringIO()
    ConsoleTransport(stream).send(build_message(outbox_mail(), sender=SENDER))
    printed = stream.getvalue()
    assert "To: ada@example.org" in printed
    message = email.message_from_string(printed.rsplit("\n-", 1)[0], policy=email.policy.default)
    assert message["Subject"] == "Bitte bestätigen Sie Ihre E-Mail-Adresse"


def test_the_folder_transport_writes_one_parseable_eml_file_per_mail(tmp_path):
    transport = FolderTransport(tmp_path / "mails")
    transport.send(build_message(outbox_mail(), sender=SENDER))
    transport.send(
        build_message(outbox_mail(id="second", subject="../../etc/passwd"), sender=SENDER)
    )
    files = sorted((tmp_path / "mails").iterdir())
    assert len(files) == 2
    for path in files:
        assert re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{16}\.eml", path.name)
    subjects = set()
    for path in files:
        with path.open("rb") as handle:
            message = email.message_from_binary_file(handle, policy=email.policy.default)
        subjects.add(message["Subject"])
        body = message.get_body(("plain",)).get_content()
        assert body.replace("\r\n", "\n") == outbox_mail().text
    assert subjects == {"Bitte bestätigen Sie Ihre E-Mail-Adresse", "../../etc/passwd"}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_eml_files_are_readable_by_their_owner_only(tmp_path):
    FolderTransport(tmp_path).send(build_message(outbox_mail(), sender=SENDER))
    (path,) = tmp_path.iterdir()
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_no_partial_file(tmp_path):
    class Unserializable(email.message.EmailMessage):
        def as_bytes(self, *args, **kwargs):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        FolderTransport(tmp_path).send(Unserializable())
    assert list(tmp_path.iterdir()) == []


# -- configuration -------------------------------------------------------------------------------


def test_an_smtp_transport_is_read_from_a_mapping(monkeypatch, certificate):
    monkeypatch.setenv("ONBOARDKIT_TEST_SMTP_PASSWORD", "from-the-environment")
    transport = transport_from_mapping(
        {
            "type": "smtp",
            "host": "smtp.example.com",
            "security": "tls",
            "username": "mailer",
            "password_env": "ONBOARDKIT_TEST_SMTP_PASSWORD",
            "ca_file": str(certificate.cert_file),
            "timeout": 3,
        }
    )
    assert isinstance(transport, SmtpTransport)
    assert (transport.effective_port, transport.password, transport.timeout) == (
        465,
        "from-the-environment",
        3.0,
    )


def test_a_configured_ca_file_is_trusted(starttls_server, certificate):
    transport = transport_from_mapping(
        {
            "type": "smtp",
            "host": "127.0.0.1",
            "port": starttls_server.port,
            "ca_file": str(certificate.cert_file),
        }
    )
    transport.send(build_message(outbox_mail(), sender=SENDER))
    assert len(starttls_server.received) == 1


def test_console_and_folder_transports_are_read_from_a_mapping(tmp_path):
    assert isinstance(transport_from_mapping({"type": "console"}), ConsoleTransport)
    folder = transport_from_mapping({"type": "folder", "path": str(tmp_path)})
    assert folder == FolderTransport(tmp_path)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({}, "mail.transport.type"),
        ({"type": "carrier-pigeon"}, "mail.transport.type"),
        ({"type": "smtp"}, "mail.transport.host"),
        ({"type": "smtp", "host": "h", "port": 70000}, "mail.transport.port"),
        ({"type": "smtp", "host": "h", "port": True}, "mail.transport.port"),
        ({"type": "smtp", "host": "h", "security": "ssl"}, "mail.transport.security"),
        ({"type": "smtp", "host": "h", "timeout": 0}, "mail.transport.timeout"),
        ({"type": "smtp", "host": "h", "password": "p"}, "mail.transport.username"),
        (
            {"type": "smtp", "host": "h", "security": "none", "username": "u", "password": "p"},
            "mail.transport.security",
        ),
        (
            {"type": "smtp", "host": "h", "password_env": "ONBOARDKIT_UNSET_VARIABLE_X"},
            "mail.transport.password_env",
        ),
        ({"type": "smtp", "host": "h", "sender": "a@b.c\r\nX: y"}, "mail.transport.sender"),
        ({"type": "smtp", "host": "h", "ca_file": "/nonexistent/ca.pem"}, "mail.transport.ca_file"),
        ({"type": "smtp", "host": "h", "hots": "typo"}, "mail.transport.hots"),
        ({"type": "folder"}, "mail.transport.path"),
        ({"type": "console", "stream": "printer"}, "mail.transport.stream"),
    ],
)
def test_bad_transport_settings_name_the_exact_key(config, key):
    with pytest.raises(ConfigurationError) as caught:
        transport_from_mapping(config)
    assert caught.value.params["key"] == key


# Reads certificate and time-zone files: no per-example deadline on a busy machine.
@settings(deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["type", "host", "port", "security", "username", "password", "timeout", "path", "x"]
        ),
        st.one_of(
            st.sampled_from(["smtp", "console", "folder", "tls", "none", "starttls"]),
            st.text(max_size=10),
            st.integers(),
            st.floats(allow_nan=True),
            st.booleans(),
            st.none(),
        ),
    )
)
def test_any_transport_mapping_gives_a_transport_or_a_configuration_error(config):
    if config.get("type") == "folder":
        config["path"] = os.devnull + "-never-written"
    try:
        transport_from_mapping(config)
    except ConfigurationError as error:
        key = str(error.params["key"])
    else:
        return
    assert key.startswith("mail.transport.")


@attrs.frozen
class ListTransport:
    sent: list = attrs.field(factory=list)

    def send(self, message) -> None:
        self.sent.append(message)


class TransportPlugin:
    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def onboardkit_mail_transports(self):
        return {self.name: lambda config: ListTransport()}


def test_a_plugin_transport_is_selected_by_its_type():
    plugins = make_plugins(TransportPlugin("memory"))
    transport = transport_from_mapping({"type": "memory"}, plugins=plugins)
    assert isinstance(transport, ListTransport)


def test_a_plugin_cannot_replace_a_built_in_transport():
    plugins = make_plugins(TransportPlugin("console"))
    assert isinstance(
        transport_from_mapping({"type": "console"}, plugins=plugins), ConsoleTransport
    )


def test_a_type_two_plugins_offer_is_refused():
    plugins = make_plugins(TransportPlugin("memory"), TransportPlugin("memory"))
    with pytest.raises(ConfigurationError) as caught:
        transport_from_mapping({"type": "memory"}, plugins=plugins)
    assert caught.value.params["key"] == "mail.transport.type"
