"""onboardkit's mail through Django's ``EMAIL_BACKEND``.

The outbox worker (``manage.py onboardkit outbox deliver``) sends with
:class:`DjangoEmailTransport` unless the TOML file names a ``[mail.transport]``; a file can also
choose it by name, ``type = "django"``. Whatever the project configured (SMTP, a service's
backend, the console or ``locmem`` in tests) then delivers onboardkit's mail too.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import attrs
from django.core import mail as django_mail
from django.core.mail import EmailMultiAlternatives

from onboardkit.errors import ConfigurationError

__all__ = ["DjangoEmailTransport"]

#: Headers onboardkit sets that Django's message takes as they are.
_KEPT_HEADERS = ("Date", "Message-ID", "Auto-Submitted")


@attrs.frozen
class DjangoEmailTransport:
    """An onboardkit :class:`~onboardkit.transports.Transport` over a Django email backend.

    :param backend: Django 5.2: the backend's dotted path; ``None``: ``EMAIL_BACKEND``.
    :param mailer: Django 6.1 and later: the alias in ``MAILERS``; ``None``: the default mailer.
    """

    backend: str | None = None
    mailer: str | None = None

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> DjangoEmailTransport:
        """From a ``[mail.transport]`` table with ``type = "django"`` and an optional
        ``backend`` (Django 5.2) or ``mailer`` (Django 6.1 and later).

        :raises ConfigurationError: for any other key, or a value that is not text.
        """
        unknown = sorted(set(table) - {"type", "backend", "mailer"})
        if unknown:
            raise ConfigurationError(key=f"mail.transport.{unknown[0]}", reason="no such key")
        for name in ("backend", "mailer"):
            if table.get(name) is not None and not isinstance(table[name], str):
                raise ConfigurationError(key=f"mail.transport.{name}", reason="expected text")
        return cls(table.get("backend"), table.get("mailer"))

    def send(self, message: EmailMessage) -> None:
        """Send ``message`` (onboardkit's, with its text and HTML parts) through the backend;
        raises whatever the backend raises, so the outbox retries."""
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        mail = EmailMultiAlternatives(
            subject=str(message["Subject"]),
            body=text.get_content() if isinstance(text, EmailMessage) else "",
            from_email=str(message["From"]),
            to=[str(message["To"])],
            headers={name: str(message[name]) for name in _KEPT_HEADERS if message[name]},
        )
        if isinstance(html, EmailMessage):
            mail.attach_alternative(html.get_content(), "text/html")
        if hasattr(django_mail, "mailers"):  # Django 6.1 and later: MAILERS
            if self.mailer is not None:
                mail.send(using=self.mailer)  # type: ignore[call-arg,unused-ignore]
            else:
                mail.send()
        else:
            mail.connection = django_mail.get_connection(self.backend, fail_silently=False)
            mail.send(fail_silently=False)
