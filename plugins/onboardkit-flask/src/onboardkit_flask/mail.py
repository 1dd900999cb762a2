"""Mail through the app's Flask-Mailman: an onboardkit :class:`~onboardkit.transports.Transport`
that hands each outbox mail to Flask-Mailman's connection (SMTP, console, file or the ``locmem``
backend of the app's tests), so onboardkit's mail goes out the way the app's own does.
"""

from __future__ import annotations

from email.message import EmailMessage

from flask import Flask, current_app, has_app_context

__all__ = ["MailmanTransport"]

#: Headers onboardkit sets that Flask-Mailman would otherwise make up or leave out.
_KEPT_HEADERS = ("Date", "Message-ID", "Auto-Submitted")


class MailmanTransport:
    """Deliver mail with the app's Flask-Mailman (``app.extensions["mailman"]``).

    The text and HTML parts, the sender, the recipient, the subject and onboardkit's ``Date``,
    ``Message-ID`` and ``Auto-Submitted`` headers are kept; a failure raises, so the outbox
    worker retries (Flask-Mailman's ``fail_silently`` is off).

    :param app: The app whose Flask-Mailman sends; its context is pushed when none is active
        (an outbox worker thread).
    """

    def __init__(self, app: Flask | None = None) -> None:
        self.app = app

    def send(self, message: EmailMessage) -> None:
        if has_app_context() or self.app is None:
            self._send(message)
            return
        with self.app.app_context():
            self._send(message)

    def _send(self, message: EmailMessage) -> None:
        from flask_mailman import EmailMultiAlternatives  # type: ignore[import-untyped]

        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        mail = EmailMultiAlternatives(
            subject=str(message["Subject"]),
            body=text.get_content() if isinstance(text, EmailMessage) else "",
            from_email=str(message["From"]),
            to=[str(message["To"])],
            headers={name: str(message[name]) for name in _KEPT_HEADERS if message[name]},
            connection=current_app.extensions["mailman"].get_connection(fail_silently=False),
        )
        if isinstance(html, EmailMessage):
            mail.attach_alternative(html.get_content(), "text/html")
        mail.send(fail_silently=False)
