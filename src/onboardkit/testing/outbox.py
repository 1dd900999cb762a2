"""Reading the outbox in tests: the mails onboardkit queued, and the links in them.

A test finds the newest mail of a kind to an address and reads its link as the person would
click it::

    from onboardkit.testing import mail_link, newest_mail

    mail = newest_mail(store, "anna@example.org", "confirmation")
    link = mail_link(mail)  # link.url, link.token

:func:`onboardkit.testing.follow_mail` goes on from there with a browser: it opens the link's
page and presses its button.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import attrs

from onboardkit.storage import OutboxMail, Store

__all__ = ["MailLink", "mail_link", "mail_token", "newest_mail", "outbox_mails"]

#: Mails read from the outbox at most (newest first): far more than any test sends.
_LIMIT = 1000
_URL = re.compile(r"https?://[^\s<>\"']+")


def outbox_mails(
    store: Store, recipient: str | None = None, kind: str | None = None
) -> list[OutboxMail]:
    """The mails in ``store``'s outbox, newest first; only those to ``recipient`` (exactly as
    addressed) and of ``kind`` (``confirmation``, ``invitation``, ...) when given."""
    found = store.atomic(lambda tx: list(tx.mails(limit=_LIMIT)))
    return [
        mail
        for mail in found
        if (recipient is None or mail.recipient == recipient)
        and (kind is None or mail.kind == kind)
    ]


def newest_mail(store: Store, recipient: str, kind: str | None = None) -> OutboxMail:
    """The newest mail to ``recipient`` (of ``kind``); an ``AssertionError`` when there is none."""
    found = outbox_mails(store, recipient, kind)
    assert found, f"no {kind or 'mail'} to {recipient} in the outbox"
    return found[0]


@attrs.frozen
class MailLink:
    """The link a mail asks the person to open.

    :param url: The absolute link, as mailed (under the tenant's ``base_url``).
    :param token: Its ``token`` parameter, decoded.
    """

    url: str
    token: str

    @property
    def path(self) -> str:
        """The link's path and query, without scheme and host."""
        parts = urlsplit(self.url)
        return f"{parts.path}?{parts.query}" if parts.query else parts.path


def mail_link(mail: OutboxMail) -> MailLink:
    """The first link with a ``token`` in ``mail``'s text; an ``AssertionError`` when none."""
    for found in _URL.findall(mail.text):
        url = found.rstrip(".,;:!?)")  # the sentence's punctuation is not the link's
        token = dict(parse_qsl(urlsplit(url).query)).get("token")
        if token:
            return MailLink(url=url, token=token)
    raise AssertionError(f"the {mail.kind} mail to {mail.recipient} has no link with a token")


def mail_token(store: Store, recipient: str, kind: str) -> str:
    """The token of the link in the newest mail of ``kind`` to ``recipient``."""
    return mail_link(newest_mail(store, recipient, kind)).token
