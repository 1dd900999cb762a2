"""onboardkit's tables as Django models, for :class:`onboardkit_django.store.DjangoStore`.

They mirror the columns, keys and indexes of :mod:`onboardkit.schema` (the SQLAlchemy store's
tables), under the same names (``onboardkit_*``) and with the same value conventions: times are
seconds since the epoch (UTC) as double-precision floats, a consent record's time is kept in
microseconds, JSON columns hold small documents. Two tables differ in their key only: Django's
admin wants one primary-key column, so the consent ledger and the partner codes get an automatic
``id``, and the composite keys of the SQL store (``tenant, sequence`` and ``tenant, digest``)
become unique constraints, which refuse a second record at one position of the chain just the
same.

The migrations switch the tables to binary collation on MariaDB and MySQL (see
``migrations/0001_initial.py``): their default compares text case- and accent-insensitively,
and ``Anna@x`` would find ``anna@x``.

The rows are onboardkit's to write: read them freely (the admin does), but change them only
through onboardkit's services, which keep versions, the consent chain and the outbox consistent.
"""

# Django reads the options of Meta as plain class attributes.
# ruff: noqa: RUF012

from __future__ import annotations

from typing import Any

from django.db import models

__all__ = [
    "AccountRow",
    "ConsentRecordRow",
    "OrganizationRow",
    "OutboxMailRow",
    "PartnerCodeRow",
    "RateLimitRow",
    "SigningKeyRow",
]

#: onboardkit's identifiers: 32 hexadecimal digits.
ID_LENGTH = 32
#: As long as the consent ledger and the partner registry accept (consent.MAX_TENANT_LENGTH).
TENANT_LENGTH = 128
EMAIL_LENGTH = 254


class OrganizationRow(models.Model):
    """An organization (a company registering with its people), ``onboardkit_organizations``."""

    id: models.CharField[str, str] = models.CharField(primary_key=True, max_length=ID_LENGTH)
    tenant: models.CharField[str, str] = models.CharField(max_length=TENANT_LENGTH, db_index=True)
    name: models.CharField[str, str] = models.CharField(max_length=200)
    data: models.JSONField[Any, Any] = models.JSONField()
    created_at: models.FloatField[float, float] = models.FloatField()

    class Meta:
        db_table = "onboardkit_organizations"
        verbose_name = "organization"

    def __str__(self) -> str:
        return self.name


class AccountRow(models.Model):
    """An account, from registration to approval, ``onboardkit_accounts``."""

    id: models.CharField[str, str] = models.CharField(primary_key=True, max_length=ID_LENGTH)
    tenant: models.CharField[str, str] = models.CharField(max_length=TENANT_LENGTH)
    flow: models.CharField[str, str] = models.CharField(max_length=20)
    status: models.CharField[str, str] = models.CharField(max_length=30)
    email: models.CharField[str, str] = models.CharField(max_length=EMAIL_LENGTH)
    canonical_email: models.CharField[str, str] = models.CharField(max_length=EMAIL_LENGTH)
    locale: models.CharField[str, str] = models.CharField(max_length=16)
    password_hash: models.CharField[str | None, str | None] = models.CharField(
        max_length=255, null=True
    )
    profile: models.JSONField[Any, Any] = models.JSONField()
    fields: models.JSONField[Any, Any] = models.JSONField()
    user_type: models.CharField[str | None, str | None] = models.CharField(max_length=64, null=True)
    roles: models.JSONField[Any, Any] = models.JSONField()
    organization: models.ForeignKey[OrganizationRow | None, OrganizationRow | None] = (
        models.ForeignKey(
            OrganizationRow,
            on_delete=models.SET_NULL,
            null=True,
            related_name="accounts",
            db_column="organization_id",
        )
    )
    partner: models.JSONField[Any, Any] = models.JSONField(null=True)
    invited_by: models.CharField[str | None, str | None] = models.CharField(
        max_length=EMAIL_LENGTH, null=True
    )
    reviewed_by: models.CharField[str | None, str | None] = models.CharField(
        max_length=EMAIL_LENGTH, null=True
    )
    rejection_reason: models.CharField[str | None, str | None] = models.CharField(
        max_length=2000, null=True
    )
    # The consent decisions of an unconfirmed registration; recorded in the consent ledger only
    # when the address is confirmed, so a replaced registration leaves no consent behind.
    pending_consents: models.JSONField[Any, Any] = models.JSONField(null=True)
    created_at: models.FloatField[float, float] = models.FloatField()
    updated_at: models.FloatField[float, float] = models.FloatField()
    confirmed_at: models.FloatField[float | None, float | None] = models.FloatField(null=True)
    decided_at: models.FloatField[float | None, float | None] = models.FloatField(null=True)
    expires_at: models.FloatField[float | None, float | None] = models.FloatField(
        null=True, db_index=True
    )
    version: models.IntegerField[int, int] = models.IntegerField()

    class Meta:
        db_table = "onboardkit_accounts"
        verbose_name = "account"
        constraints = [
            # The database, not the code, guarantees one account per address and tenant.
            models.UniqueConstraint(
                fields=["tenant", "canonical_email"],
                name="uq_onboardkit_accounts_tenant_canonical_email",
            )
        ]
        indexes = [models.Index(fields=["tenant", "status"], name="ix_onboardkit_acct_tenant_st")]
        permissions = [("review_account", "Can review accounts")]

    def __str__(self) -> str:
        return f"{self.email} ({self.tenant})"


class OutboxMailRow(models.Model):
    """A rendered mail waiting to be sent, and its delivery bookkeeping, ``onboardkit_outbox``."""

    id: models.CharField[str, str] = models.CharField(primary_key=True, max_length=ID_LENGTH)
    tenant: models.CharField[str, str] = models.CharField(max_length=TENANT_LENGTH)
    kind: models.CharField[str, str] = models.CharField(max_length=40)
    recipient: models.CharField[str, str] = models.CharField(max_length=EMAIL_LENGTH)
    subject: models.CharField[str, str] = models.CharField(max_length=255)
    text: models.TextField[str, str] = models.TextField()
    html: models.TextField[str | None, str | None] = models.TextField(null=True)
    created_at: models.FloatField[float, float] = models.FloatField()
    next_attempt_at: models.FloatField[float, float] = models.FloatField()
    attempts: models.IntegerField[int, int] = models.IntegerField()
    sent_at: models.FloatField[float | None, float | None] = models.FloatField(null=True)
    last_error: models.CharField[str | None, str | None] = models.CharField(
        max_length=500, null=True
    )

    class Meta:
        db_table = "onboardkit_outbox"
        verbose_name = "outgoing mail"
        verbose_name_plural = "outbox"
        indexes = [
            models.Index(fields=["sent_at", "next_attempt_at"], name="ix_onboardkit_outbox_due")
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient}"


class ConsentRecordRow(models.Model):
    """One record of a tenant's hash-chained consent ledger, ``onboardkit_consent_records``."""

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    tenant: models.CharField[str, str] = models.CharField(max_length=TENANT_LENGTH)
    sequence: models.IntegerField[int, int] = models.IntegerField()
    event: models.CharField[str, str] = models.CharField(max_length=20)
    # As long as the ledger accepts (consent.MAX_SUBJECT_LENGTH).
    subject: models.CharField[str | None, str | None] = models.CharField(max_length=320, null=True)
    subject_pseudonym: models.CharField[str, str] = models.CharField(max_length=64, db_index=True)
    purpose: models.CharField[str, str] = models.CharField(max_length=64)
    document_version: models.CharField[str, str] = models.CharField(max_length=64)
    text_sha256: models.CharField[str, str] = models.CharField(max_length=64)
    locale: models.CharField[str, str] = models.CharField(max_length=16)
    recorded_at_us: models.BigIntegerField[int, int] = models.BigIntegerField()
    method: models.CharField[str, str] = models.CharField(max_length=40)
    evidence: models.JSONField[Any, Any] = models.JSONField(null=True)
    evidence_digest: models.CharField[str, str] = models.CharField(max_length=64)
    prev_hash: models.CharField[str, str] = models.CharField(max_length=64)
    record_hash: models.CharField[str, str] = models.CharField(max_length=64)

    class Meta:
        db_table = "onboardkit_consent_records"
        verbose_name = "consent record"
        constraints = [
            # One record per position of a tenant's chain: of two appends on one head, the
            # second fails here (waiting for the first to commit) and meets a stale head.
            models.UniqueConstraint(
                fields=["tenant", "sequence"], name="uq_onboardkit_consent_records_tenant_sequence"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant} #{self.sequence} {self.event} {self.purpose}"


class PartnerCodeRow(models.Model):
    """A partner code's digest and its partner, ``onboardkit_partner_codes``."""

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    tenant: models.CharField[str, str] = models.CharField(max_length=TENANT_LENGTH)
    digest: models.CharField[str, str] = models.CharField(max_length=64)
    hint: models.CharField[str, str] = models.CharField(max_length=16)
    partner_id: models.CharField[str, str] = models.CharField(max_length=200)
    partner_name: models.CharField[str, str] = models.CharField(max_length=200)
    partner_source: models.CharField[str, str] = models.CharField(max_length=64)
    partner_details: models.JSONField[Any, Any] = models.JSONField()
    created_at: models.FloatField[float, float] = models.FloatField()
    expires_at: models.FloatField[float | None, float | None] = models.FloatField(null=True)
    max_uses: models.IntegerField[int | None, int | None] = models.IntegerField(null=True)
    uses: models.IntegerField[int, int] = models.IntegerField()
    revoked_at: models.FloatField[float | None, float | None] = models.FloatField(null=True)

    class Meta:
        db_table = "onboardkit_partner_codes"
        verbose_name = "partner code"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "digest"], name="uq_onboardkit_partner_codes_tenant_digest"
            )
        ]

    def __str__(self) -> str:
        return f"{self.hint}… ({self.partner_name})"


class SigningKeyRow(models.Model):
    """A key that signs onboardkit's links, ``onboardkit_signing_keys``."""

    kid: models.CharField[str, str] = models.CharField(primary_key=True, max_length=64)
    secret: models.BinaryField[bytes | memoryview, bytes | memoryview] = models.BinaryField()
    created_at: models.FloatField[float, float] = models.FloatField()

    class Meta:
        db_table = "onboardkit_signing_keys"
        verbose_name = "signing key"

    def __str__(self) -> str:
        return self.kid


class RateLimitRow(models.Model):
    """One rate-limit counter of one window, ``onboardkit_rate_limits``."""

    # "<action>:<scope>:<value digest>:<window start>", e.g. "register:ip:3f2a...:1800000000"
    key: models.CharField[str, str] = models.CharField(primary_key=True, max_length=200)
    count: models.IntegerField[int, int] = models.IntegerField()
    expires_at: models.FloatField[float, float] = models.FloatField(db_index=True)

    class Meta:
        db_table = "onboardkit_rate_limits"
        verbose_name = "rate-limit counter"

    def __str__(self) -> str:
        return self.key
