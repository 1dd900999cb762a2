"""A real SMTP server for tests: :class:`LocalSmtpServer` (needs ``aiosmtpd``, in ``[test]``).

It listens on ``127.0.0.1`` at a port the system picks, in a thread of its own, and keeps every
mail it receives, so a test sends through the real :class:`onboardkit.transports.SmtpTransport`
and looks at what arrived::

    from onboardkit.testing.mail import LocalSmtpServer

    with LocalSmtpServer() as server:
        transport = SmtpTransport(server.host, server.port, security="none")
        ...
        assert server.messages[0]["Subject"] == "Invitation to Acme"

Pass ``tls_context`` (and ``require_starttls=True``) for STARTTLS, ``ssl_context`` for implicit
TLS, and aiosmtpd's ``authenticator`` with ``auth_required=True`` for AUTH.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from email.message import EmailMessage
from types import TracebackType
from typing import Any

import attrs

__all__ = ["LocalSmtpServer", "ReceivedMail"]


@attrs.frozen
class ReceivedMail:
    """One mail as the server received it: the envelope and the raw message."""

    mail_from: str
    recipients: tuple[str, ...]
    content: bytes = attrs.field(repr=False)

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[ReceivedMail] = []
        self.arrived = threading.Condition(self.lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content
        mail = ReceivedMail(
            mail_from=envelope.mail_from,
            recipients=tuple(envelope.rcpt_tos),
            content=content if isinstance(content, bytes) else content.encode(),
        )
        with self.arrived:
            self.received.append(mail)
            self.arrived.notify_all()
        return "250 OK"


class LocalSmtpServer:
    """An SMTP server on 127.0.0.1 that keeps what it receives (see the module documentation).

    :param port: 0 (default) lets the system choose; pass a port to start again where a stopped
        server listened.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        port: int = 0,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        authenticator: Any = None,
        auth_required: bool = False,
    ) -> None:
        self.port = port
        self._handler = _Handler()
        self._options: dict[str, Any] = {
            "tls_context": tls_context,
            "require_starttls": require_starttls,
            "ssl_context": ssl_context,
            "authenticator": authenticator,
            "auth_required": auth_required,
            "auth_require_tls": True,
        }
        self._controller: Any = None

    def start(self) -> LocalSmtpServer:
        # Imported here: aiosmtpd is a test dependency, and importing this module needs none.
        from aiosmtpd.controller import Controller

        class _Controller(Controller):
            def _trigger_server(self) -> None:
                # Port 0 bound a free port; aiosmtpd's readiness check must connect to it.
                listening: Any = self.server
                self.port = listening.sockets[0].getsockname()[1]
                trigger: Any = super()._trigger_server
                trigger()

        options = {name: value for name, value in self._options.items() if value is not None}
        controller = _Controller(self._handler, hostname=self.host, port=self.port, **options)
        controller.start()
        self.port = controller.port
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening (the port stays known, for :meth:`start` on a new server)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> LocalSmtpServer:
        return self.start() if self._controller is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def received(self) -> list[ReceivedMail]:
        """Every mail received so far, in order."""
        with self._handler.lock:
            return list(self._handler.received)

    @property
    def messages(self) -> list[EmailMessage]:
        """The received messages, parsed."""
        return [mail.message for mail in self.received]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until ``count`` mails arrived (or ``timeout`` seconds passed); all received."""
        with self._handler.arrived:
            self._handler.arrived.wait_for(lambda: len(self._handler.received) >= count, timeout)
            return list(self._handler.received)
