"""The outbox: mail is written with the change it reports, and sent afterwards, with retries.

A flow never talks to a mail server. It renders its mail and calls :func:`enqueue` inside the
transaction that changes the account, so the registration and its mail are committed together or
not at all, and the person gets the same answer whether the mail server is up or not. An
:class:`OutboxWorker` (any number of them, in any number of processes or machines sharing the
database) sends what is due:

1. claim a batch of due mails in a short transaction of its own (``claim_mail``: the database
   locks the rows with ``FOR UPDATE SKIP LOCKED`` and hides them from other workers for the
   lease), which counts an attempt;
2. send each mail outside any transaction;
3. record the outcome in another short transaction: sent, or failed with the time of the next
   attempt (exponential backoff with jitter). After ``max_attempts`` a mail is given up: it
   stays in the outbox unsent, is logged and counted, and is never deleted.

All state lives in the database; a worker keeps nothing between rounds, so workers can be
started, stopped and killed at will. Delivery is at least once: a worker that dies after the mail
server accepted a mail but before recording it sends that mail again once the lease ran out
(with the same ``Message-ID``). Keep the transport's timeout well below the lease.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Mapping
from typing import Any

import attrs

from onboardkit.clock import Clock, system_clock
from onboardkit.errors import ConfigurationError
from onboardkit.mail import check_header_value, check_recipient, single_line
from onboardkit.storage import OutboxMail, Store, Transaction
from onboardkit.transports import Transport, build_message, parse_sender

__all__ = [
    "ERROR_MAX_LENGTH",
    "GAVE_UP_AT",
    "DeliveryReport",
    "OutboxWorker",
    "describe_error",
    "enqueue",
]

log = logging.getLogger(__name__)

#: ``next_attempt_at`` of a mail that was given up: 9999-12-31 23:59:59 UTC, a time every
#: database stores (MariaDB has no infinity). Set it to now to try such a mail again.
GAVE_UP_AT = 253_402_300_799.0

#: ``last_error`` is cut to this many characters (the column holds 500).
ERROR_MAX_LENGTH = 300

_RANDOM = secrets.SystemRandom()


def enqueue(tx: Transaction, mail: OutboxMail) -> None:
    """Put ``mail`` into the outbox of ``tx``: it is sent only if the transaction commits.

    :raises ValidationError: when the recipient or the subject would be unsafe in a header.
    """
    check_recipient(mail.recipient)
    check_header_value(mail.subject, path="subject")
    tx.enqueue_mail(mail)


# -- errors as stored --------------------------------------------------------------------------

# A scheme is optional: "://host/path" is a link that lost its scheme, and blanked all the same.
_URL = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*)?://\S*")
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-]{24,}")


def describe_error(error: BaseException, mail: OutboxMail | None = None) -> str:
    """A short, single-line description of a failed send, safe to store and to log.

    Links and anything that looks like a token are blanked out, and so is every line of the
    mail's body that an error message might quote; the result has at most
    :data:`ERROR_MAX_LENGTH` characters.
    """
    text = f"{type(error).__name__}: {error}"
    if mail is not None:
        bodies = (mail.text or "", mail.html or "")
        for line in {line.strip() for body in bodies for line in body.splitlines()}:
            if len(line) >= 8:
                text = text.replace(line, "[mail text]")
    text = _URL.sub("[link]", text)
    text = _TOKEN_LIKE.sub("[redacted]", text)
    return single_line(text, limit=ERROR_MAX_LENGTH)


# -- the worker --------------------------------------------------------------------------------


@attrs.frozen
class DeliveryReport:
    """What one round (or a whole run) of a worker did.

    :param sent: Mails accepted by the transport.
    :param failed: Mails whose sending failed and that will be tried again later.
    :param gave_up: Mails that failed for the last time; they stay in the outbox unsent.
    """

    sent: int = 0
    failed: int = 0
    gave_up: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.failed + self.gave_up

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            self.sent + other.sent, self.failed + other.failed, self.gave_up + other.gave_up
        )


def _backoff(value: tuple[float, float]) -> tuple[float, float]:
    base, cap = (float(part) for part in value)
    if not 0 < base <= cap:
        raise ValueError("backoff must be (base, cap) with 0 < base <= cap")
    return base, cap


class OutboxWorker:
    """Sends the outbox's due mails through a transport, with retries and backoff.

    :param store: The database the flows enqueue into.
    :param transport: How mail leaves (:mod:`onboardkit.transports`).
    :param clock: Seconds since the epoch; tests pass a frozen clock.
    :param sender: The ``From`` of every mail (``Portal <noreply@example.com>``).
    :param senders: A ``From`` per tenant id, for tenants that send as themselves; the others
        use ``sender``.
    :param lease: Seconds a claimed mail stays hidden from other workers; longer than sending a
        batch takes, or mails are sent twice.
    :param batch: How many mails one round claims at most.
    :param max_attempts: After this many failed attempts a mail is given up.
    :param backoff: ``(base, cap)`` in seconds: the n-th retry waits between half and all of
        ``min(cap, base * 2 ** (n - 1))``.
    """

    def __init__(
        self,
        store: Store,
        transport: Transport,
        clock: Clock = system_clock,
        *,
        sender: str,
        senders: Mapping[str, str] | None = None,
        lease: float = 60.0,
        batch: int = 20,
        max_attempts: int = 10,
        backoff: tuple[float, float] = (30.0, 6 * 3600.0),
    ) -> None:
        self.store = store
        self.transport = transport
        self.clock = clock
        self.sender = parse_sender(sender)
        self.senders = {
            tenant: parse_sender(address, key=f"senders.{tenant}")
            for tenant, address in (senders or {}).items()
        }
        self.lease = float(lease)
        self.batch = batch
        self.max_attempts = max_attempts
        self.backoff = _backoff(backoff)
        if not self.lease > 0 or batch < 1 or max_attempts < 1:
            raise ValueError("lease, batch and max_attempts must be positive")

    @classmethod
    def from_mapping(
        cls,
        mapping: Mapping[str, Any],
        *,
        store: Store,
        transport: Transport,
        clock: Clock = system_clock,
        key: str = "mail.outbox",
    ) -> OutboxWorker:
        """A worker from configuration: ``sender`` (required), ``senders`` (a table of tenant
        id to sender), ``lease``, ``batch``, ``max_attempts``, ``backoff_base`` and
        ``backoff_cap`` (seconds).

        :raises ConfigurationError: naming the key of the first problem.
        """
        if not isinstance(mapping, Mapping):
            raise ConfigurationError(key=key, reason="expected a table")
        allowed = {
            "sender",
            "senders",
            "lease",
            "batch",
            "max_attempts",
            "backoff_base",
            "backoff_cap",
        }
        for name in mapping:
            if name not in allowed:
                raise ConfigurationError(key=f"{key}.{name}", reason="unknown setting")
        sender = mapping.get("sender")
        if not isinstance(sender, str):
            raise ConfigurationError(key=f"{key}.sender", reason="missing")
        parse_sender(sender, key=f"{key}.sender")
        senders = mapping.get("senders", {})
        if not isinstance(senders, Mapping):
            raise ConfigurationError(key=f"{key}.senders", reason="expected a table")
        for tenant, address in senders.items():
            if not isinstance(address, str):
                raise ConfigurationError(key=f"{key}.senders.{tenant}", reason="missing")
            parse_sender(address, key=f"{key}.senders.{tenant}")
        numbers: dict[str, float] = {}
        defaults = {
            "lease": 60.0,
            "batch": 20,
            "max_attempts": 10,
            "backoff_base": 30.0,
            "backoff_cap": 6 * 3600.0,
        }
        for name, default in defaults.items():
            value = mapping.get(name, default)
            whole = name in ("batch", "max_attempts")
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (whole and not isinstance(value, int))
                or not value > 0
            ):
                reason = "expected a positive whole number" if whole else "expected seconds"
                raise ConfigurationError(key=f"{key}.{name}", reason=reason)
            numbers[name] = value
        if numbers["backoff_base"] > numbers["backoff_cap"]:
            raise ConfigurationError(
                key=f"{key}.backoff_cap", reason="must not be smaller than backoff_base"
            )
        return cls(
            store,
            transport,
            clock,
            sender=sender,
            senders=senders,
            lease=numbers["lease"],
            batch=int(numbers["batch"]),
            max_attempts=int(numbers["max_attempts"]),
            backoff=(numbers["backoff_base"], numbers["backoff_cap"]),
        )

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (with jitter)."""
        base, cap = self.backoff
        delay = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 62))
        # "Equal jitter": workers that failed together do not all come back at once, and no
        # retry comes sooner than half the step.
        return delay / 2 + _RANDOM.uniform(0, delay / 2)

    def deliver_once(self) -> DeliveryReport:
        """Claim the due mails (up to ``batch``), send them, record each outcome."""
        claimed_at = self.clock()
        mails = self.store.atomic(
            lambda tx: list(tx.claim_mail(claimed_at, self.lease, self.batch))
        )
        report = DeliveryReport()
        for index, mail in enumerate(mails):
            if self.clock() >= claimed_at + self.lease / 2:
                # Sending is slower than the lease allows: give the rest back at once rather
                # than risk another worker claiming and sending them too.
                self._release(mails[index:])
                break
            report += self._deliver(mail)
        return report

    def _deliver(self, mail: OutboxMail) -> DeliveryReport:
        if mail.attempts > self.max_attempts:
            # max_attempts was lowered, or the row was reset by hand without its count.
            self._give_up(mail, mail.last_error or "too many attempts")
            return DeliveryReport(gave_up=1)
        try:
            sender = self.senders.get(mail.tenant, self.sender)
            self.transport.send(build_message(mail, sender=sender))
        except Exception as error:  # any failure of any transport is retried, never lost
            return self._failed(mail, describe_error(error, mail))
        self.store.atomic(lambda tx: tx.mark_mail_sent(mail.id, self.clock()))
        log.info("sent mail %s (%s) of tenant %s", mail.id, mail.kind, mail.tenant)
        return DeliveryReport(sent=1)

    def _failed(self, mail: OutboxMail, error: str) -> DeliveryReport:
        if mail.attempts >= self.max_attempts:
            self._give_up(mail, error)
            return DeliveryReport(gave_up=1)
        next_attempt_at = self.clock() + self.retry_delay(mail.attempts)
        self.store.atomic(lambda tx: tx.mark_mail_failed(mail.id, error, next_attempt_at))
        log.warning(
            "mail %s (%s) of tenant %s failed (attempt %d of %d), next try in %.0f s: %s",
            mail.id,
            mail.kind,
            mail.tenant,
            mail.attempts,
            self.max_attempts,
            next_attempt_at - self.clock(),
            error,
        )
        return DeliveryReport(failed=1)

    def _give_up(self, mail: OutboxMail, error: str) -> None:
        stored = single_line(f"gave up after {mail.attempts} attempts: {error}", ERROR_MAX_LENGTH)
        self.store.atomic(lambda tx: tx.mark_mail_failed(mail.id, stored, GAVE_UP_AT))
        log.error(
            "gave up mail %s (%s) of tenant %s after %d attempts; it stays in the outbox: %s",
            mail.id,
            mail.kind,
            mail.tenant,
            mail.attempts,
            error,
        )

    def _release(self, mails: list[OutboxMail]) -> None:
        now = self.clock()

        def release(tx: Transaction) -> None:
            for mail in mails:
                tx.mark_mail_failed(mail.id, mail.last_error or "not sent: lease ran out", now)

        self.store.atomic(release)
        log.warning("lease ran short; gave %d claimed mails back unsent", len(mails))

    def run(self, stop: threading.Event, idle_sleep: float = 5.0) -> DeliveryReport:
        """Deliver until ``stop`` is set; wait ``idle_sleep`` seconds whenever nothing was due.

        A failing round (the database is down) is logged and tried again after ``idle_sleep``.
        Returns what the whole run did.
        """
        total = DeliveryReport()
        while not stop.is_set():
            try:
                report = self.deliver_once()
            except Exception:  # keep the worker alive; the next round tries again
                log.exception("outbox round failed")
                stop.wait(idle_sleep)
                continue
            total += report
            if report.claimed == 0:
                stop.wait(idle_sleep)
        return total
