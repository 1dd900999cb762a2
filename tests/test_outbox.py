"""The outbox: committed with the change it reports, sent later, retried, never lost or doubled."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from onboardkit.errors import ConfigurationError, ValidationError
from onboardkit.mail import MailDetails, Mailer, MailKind, MailTenant
from onboardkit.outbox import (
    ERROR_MAX_LENGTH,
    GAVE_UP_AT,
    DeliveryReport,
    OutboxWorker,
    describe_error,
    enqueue,
)
from onboardkit.storage import OutboxMail
from onboardkit.testing import FrozenClock
from onboardkit.testing.mail import LocalSmtpServer
from onboardkit.transports import SmtpTransport, transport_from_mapping

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

SENDER = "Acme Portal <noreply@acme.example>"
TENANT = MailTenant(id="acme", display_name="Acme Portal", base_url="https://portal.example.com")
TOKEN = "c2VjcmV0LXRva2VuLXRoYXQtbXVzdC1uZXZlci1sZWFr"
BACKOFF = (60.0, 3600.0)
DOCS = Path(__file__).parent.parent / "docs" / "mail.md"


def confirmation(clock: FrozenClock, recipient: str = "ada@example.org") -> OutboxMail:
    return Mailer(clock=clock).compose(
        MailKind.CONFIRMATION,
        TENANT,
        recipient,
        MailDetails(recipient_name="Ada", link_path="/confirm", token=TOKEN),
    )


def put(store, *mails: OutboxMail) -> None:
    def step(tx):
        for mail in mails:
            enqueue(tx, mail)

    store.atomic(step)


def stored(store, mail_id: str) -> OutboxMail:
    (found,) = [
        mail for mail in store.atomic(lambda tx: tx.mails(limit=1000)) if mail.id == mail_id
    ]
    return found


def smtp(server: LocalSmtpServer) -> SmtpTransport:
    return SmtpTransport(server.host, server.port, security="none", timeout=5)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(1_800_000_000.0)


@pytest.fixture
def server() -> Iterator[LocalSmtpServer]:
    with LocalSmtpServer() as running:
        yield running


@pytest.fixture
def down_server() -> Iterator[LocalSmtpServer]:
    """A server that was started once (so its port is known) and is now down."""
    server = LocalSmtpServer().start()
    server.stop()
    yield server
    server.stop()


# -- enqueueing ----------------------------------------------------------------------------------


def test_a_mail_is_committed_together_with_its_transaction(store, clock):
    mail = confirmation(clock)
    put(store, mail)
    assert stored(store, mail.id).subject == mail.subject


def test_a_mail_of_a_transaction_that_failed_is_never_sent(store, clock):
    mail = confirmation(clock)

    def step(tx):
        enqueue(tx, mail)
        raise RuntimeError("the registration failed after the mail was queued")

    with pytest.raises(RuntimeError):
        store.atomic(step)
    assert store.atomic(lambda tx: tx.mails()) == []


def test_enqueue_refuses_a_mail_whose_headers_were_tampered_with(memory_store, clock):
    mail = attrs.evolve(confirmation(clock), subject="Hi\r\nBcc: everyone@example.com")
    with pytest.raises(ValidationError):
        put(memory_store, mail)
    assert memory_store.atomic(lambda tx: tx.mails()) == []


# -- delivery ------------------------------------------------------------------------------------


def test_due_mails_are_sent_once_and_marked_sent(store, clock, server):
    mails = [confirmation(clock, f"user{index}@example.org") for index in range(3)]
    put(store, *mails)
    worker = OutboxWorker(store, smtp(server), clock, sender=SENDER)
    assert worker.deliver_once() == DeliveryReport(sent=3)
    assert worker.deliver_once() == DeliveryReport()
    assert sorted(r.recipients[0] for r in server.received) == sorted(m.recipient for m in mails)
    assert all(stored(store, m.id).sent_at == clock.now for m in mails)
    (message, *_) = server.messages
    assert message["From"] == SENDER
    assert TOKEN in message.get_body(("plain",)).get_content()


def test_a_tenant_can_send_under_its_own_address(memory_store, clock, server):
    put(memory_store, confirmation(clock))
    worker = OutboxWorker(
        memory_store,
        smtp(server),
        clock,
        sender=SENDER,
        senders={"acme": "Acme <hi@acme.example.org>"},
    )
    assert worker.deliver_once() == DeliveryReport(sent=1)
    (message,) = server.messages
    assert message["From"] == "Acme <hi@acme.example.org>"
    assert message["Message-ID"].endswith("@acme.example.org>")


def test_a_mail_server_that_is_down_loses_nothing(store, clock, down_server):
    mail = confirmation(clock)
    put(store, mail)
    worker = OutboxWorker(store, smtp(down_server), clock, sender=SENDER, backoff=BACKOFF)

    assert worker.deliver_once() == DeliveryReport(failed=1)
    waiting = stored(store, mail.id)
    assert (waiting.sent_at, waiting.attempts) == (None, 1)
    assert waiting.last_error.startswith("ConnectionRefusedError")
    assert clock.now + 30 <= waiting.next_attempt_at <= clock.now + 60

    # Not before the backoff has passed, even with the server back.
    with LocalSmtpServer(port=down_server.port) as back_up:
        clock.advance(29)
        assert worker.deliver_once() == DeliveryReport()
        clock.advance(31)
        assert worker.deliver_once() == DeliveryReport(sent=1)
        (received,) = back_up.received
    assert received.message["Subject"] == mail.subject
    assert stored(store, mail.id).sent_at == clock.now
    assert stored(store, mail.id).attempts == 2


def test_retries_wait_exponentially_longer_up_to_the_cap(memory_store, server):
    worker = OutboxWorker(
        memory_store, smtp(server), sender=SENDER, backoff=(10.0, 100.0), max_attempts=20
    )
    for attempts, step in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (19, 100)]:
        for _ in range(20):
            assert step / 2 <= worker.retry_delay(attempts) <= step


def test_a_mail_is_given_up_after_max_attempts_and_stays_in_the_outbox(store, clock, down_server):
    mail = confirmation(clock)
    put(store, mail)
    worker = OutboxWorker(
        store, smtp(down_server), clock, sender=SENDER, max_attempts=3, backoff=BACKOFF
    )
    reports = []
    for _ in range(3):
        reports.append(worker.deliver_once())
        clock.advance(BACKOFF[1])
    assert reports == [
        DeliveryReport(failed=1),
        DeliveryReport(failed=1),
        DeliveryReport(gave_up=1),
    ]
    kept = stored(store, mail.id)
    assert (kept.sent_at, kept.attempts, kept.next_attempt_at) == (None, 3, GAVE_UP_AT)
    assert kept.last_error.startswith("gave up after 3 attempts: ConnectionRefusedError")
    assert [m.id for m in store.atomic(lambda tx: tx.mails(unsent_only=True))] == [mail.id]
    clock.advance(100 * 365 * 24 * 3600)
    assert worker.deliver_once() == DeliveryReport()


def test_a_given_up_mail_is_reported_in_the_log(memory_store, clock, down_server, caplog):
    mail = confirmation(clock)
    put(memory_store, mail)
    worker = OutboxWorker(memory_store, smtp(down_server), clock, sender=SENDER, max_attempts=1)
    with caplog.at_level("ERROR", logger="onboardkit.outbox"):
        assert worker.deliver_once() == DeliveryReport(gave_up=1)
    assert mail.id in caplog.text
    assert "stays in the outbox" in caplog.text


@attrs.frozen
class LeakyTransport:
    """A transport whose error message quotes the whole mail (some providers' APIs do)."""

    def send(self, message) -> None:
        raise RuntimeError(f"rejected: {message.as_string()}")


def test_the_stored_error_never_holds_the_mail_text_or_its_links(memory_store, clock, caplog):
    mail = confirmation(clock)
    put(memory_store, mail)
    worker = OutboxWorker(memory_store, LeakyTransport(), clock, sender=SENDER)
    with caplog.at_level("WARNING", logger="onboardkit.outbox"):
        assert worker.deliver_once() == DeliveryReport(failed=1)
    error = stored(memory_store, mail.id).last_error
    assert error.startswith("RuntimeError: rejected")
    assert len(error) <= ERROR_MAX_LENGTH
    for secret in (TOKEN, "https://portal.example.com", "token=", "Thank you for registering"):
        assert secret not in error
        assert secret not in caplog.text


@given(st.text(max_size=2000))
@example("://")
@example("see ://portal.example.com/confirm?token=abc and https:// too")
def test_a_described_error_is_one_bounded_line_without_links(text):
    described = describe_error(RuntimeError(text))
    assert len(described) <= ERROR_MAX_LENGTH
    assert len(described.splitlines()) == 1
    assert "://" not in described


@attrs.define
class SlowTransport:
    """Each mail takes a whole lease to send (the clock moves as it sends)."""

    clock: FrozenClock
    seconds: float
    sent: list = attrs.field(factory=list)

    def send(self, message) -> None:
        self.clock.advance(self.seconds)
        self.sent.append(message["To"])


def test_mails_a_worker_cannot_send_within_its_lease_are_given_back(memory_store, clock):
    mails = [confirmation(clock, f"user{index}@example.org") for index in range(3)]
    put(memory_store, *mails)
    transport = SlowTransport(clock, seconds=40)
    worker = OutboxWorker(memory_store, transport, clock, sender=SENDER, lease=60)
    assert worker.deliver_once() == DeliveryReport(sent=1)
    assert len(transport.sent) == 1
    unsent = memory_store.atomic(lambda tx: tx.mails(unsent_only=True))
    assert len(unsent) == 2
    assert all(m.next_attempt_at <= clock.now for m in unsent)
    assert worker.deliver_once() == DeliveryReport(sent=1)
    assert worker.deliver_once() == DeliveryReport(sent=1)
    assert sorted(transport.sent) == sorted(m.recipient for m in mails)


def test_run_delivers_until_stopped(memory_store, server):
    worker = OutboxWorker(memory_store, smtp(server), sender=SENDER)
    stop = threading.Event()
    result: list[DeliveryReport] = []
    thread = threading.Thread(target=lambda: result.append(worker.run(stop, idle_sleep=0.02)))
    thread.start()
    try:
        put(memory_store, confirmation(FrozenClock(0.0)))
        assert len(server.wait_for(1, timeout=10)) == 1
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result == [DeliveryReport(sent=1)]


# -- configuration -------------------------------------------------------------------------------


def test_a_worker_is_read_from_a_mapping(memory_store, server):
    worker = OutboxWorker.from_mapping(
        {"sender": SENDER, "lease": 120, "batch": 5, "max_attempts": 4, "backoff_base": 2},
        store=memory_store,
        transport=smtp(server),
    )
    assert (worker.lease, worker.batch, worker.max_attempts) == (120.0, 5, 4)
    assert worker.backoff == (2.0, 6 * 3600.0)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({}, "mail.outbox.sender"),
        ({"sender": "no address"}, "mail.outbox.sender"),
        ({"sender": SENDER, "batch": 0}, "mail.outbox.batch"),
        ({"sender": SENDER, "batch": 2.5}, "mail.outbox.batch"),
        ({"sender": SENDER, "lease": "long"}, "mail.outbox.lease"),
        ({"sender": SENDER, "max_attempts": True}, "mail.outbox.max_attempts"),
        ({"sender": SENDER, "backoff_base": 100, "backoff_cap": 10}, "mail.outbox.backoff_cap"),
        ({"sender": SENDER, "retries": 3}, "mail.outbox.retries"),
        ({"sender": SENDER, "senders": {"acme": "a@b.c, d@e.f"}}, "mail.outbox.senders.acme"),
    ],
)
def test_bad_worker_settings_name_the_exact_key(memory_store, server, config, key):
    with pytest.raises(ConfigurationError) as caught:
        OutboxWorker.from_mapping(config, store=memory_store, transport=smtp(server))
    assert caught.value.params["key"] == key


def test_the_configuration_example_in_the_docs_works(memory_store, monkeypatch):
    block = re.search(r"```toml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert block is not None
    config = tomllib.loads(block.group(1))
    monkeypatch.setenv("ONBOARDING_SMTP_PASSWORD", "from-the-environment")
    tenant = MailTenant.from_mapping(config["tenants"]["acme"]["mail"], tenant="acme")
    transport = transport_from_mapping(config["mail"]["transport"])
    worker = OutboxWorker.from_mapping(
        config["mail"]["outbox"], store=memory_store, transport=transport
    )
    assert tenant.branding.accent_color == "#0b5cad"
    assert isinstance(transport, SmtpTransport)
    assert transport.password == "from-the-environment"
    assert worker.backoff == (30.0, 21600.0)


# -- several workers on one PostgreSQL -------------------------------------------------------------


@pytest.mark.postgresql
def test_concurrent_workers_deliver_every_mail_exactly_once(postgresql_store, store_on, server):
    clock = FrozenClock(0.0)  # composed long ago: every mail is due
    mails = [confirmation(clock, f"user{index}@example.org") for index in range(200)]
    put(postgresql_store, *mails)
    workers = [
        # Each worker with a store (and connection pool) of its own, like separate processes.
        OutboxWorker(store_on(postgresql_store), smtp(server), sender=SENDER, batch=5)
        for _ in range(4)
    ]
    start = threading.Barrier(len(workers))
    reports: list[DeliveryReport] = [DeliveryReport() for _ in workers]

    def work(index: int) -> None:
        start.wait()
        while (report := workers[index].deliver_once()).claimed:
            reports[index] += report

    threads = [threading.Thread(target=work, args=(index,)) for index in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    message_ids = [mail.message["Message-ID"] for mail in server.received]
    assert len(message_ids) == 200
    assert len(set(message_ids)) == 200
    assert {mid.split(".", 1)[0].lstrip("<") for mid in message_ids} == {m.id for m in mails}
    assert sum(report.sent for report in reports) == 200
    assert sum(1 for report in reports if report.sent) >= 2  # they really shared the work
    assert postgresql_store.atomic(lambda tx: tx.mails(unsent_only=True)) == []
