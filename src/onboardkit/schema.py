"""The SQL tables of onboardkit's own store (SQLAlchemy Core), for SQLite, PostgreSQL and MariaDB.

The Alembic migrations under ``onboardkit/migrations`` create exactly these tables; a test fails
when the two drift apart. Times are seconds since the epoch (UTC) in double precision, which every
supported database stores without time-zone surprises. JSON columns hold small documents only
(custom-field values, profile, roles).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = [
    "accounts",
    "consent_records",
    "metadata",
    "organizations",
    "outbox",
    "partner_codes",
    "rate_limits",
    "signing_keys",
]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = sa.String(32)
# As long as the consent ledger and the partner registry accept (consent.MAX_TENANT_LENGTH).
TENANT = sa.String(128)
EMAIL = sa.String(254)
TIME: sa.Double[float] = sa.Double()

# MariaDB and MySQL compare text case- and accent-insensitively by default (utf8mb4_general_ci):
# "Anna@x" would find "anna@x" and "müller@x" would block "muller@x". Binary collation compares
# exactly, as PostgreSQL and SQLite do. The other databases ignore these options.
MYSQL_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

organizations = sa.Table(
    "onboardkit_organizations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("tenant", TENANT, nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    **MYSQL_OPTIONS,
)

accounts = sa.Table(
    "onboardkit_accounts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("tenant", TENANT, nullable=False),
    sa.Column("flow", sa.String(20), nullable=False),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("email", EMAIL, nullable=False),
    sa.Column("canonical_email", EMAIL, nullable=False),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("profile", sa.JSON, nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("user_type", sa.String(64), nullable=True),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column(
        "organization_id",
        ID,
        sa.ForeignKey("onboardkit_organizations.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    sa.Column("partner", sa.JSON, nullable=True),
    sa.Column("invited_by", sa.String(254), nullable=True),
    sa.Column("reviewed_by", sa.String(254), nullable=True),
    sa.Column("rejection_reason", sa.String(2000), nullable=True),
    # The consent decisions of an unconfirmed registration; recorded in the consent ledger only
    # when the address is confirmed, so a replaced registration leaves no consent behind.
    sa.Column("pending_consents", sa.JSON, nullable=True),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Column("confirmed_at", TIME, nullable=True),
    sa.Column("decided_at", TIME, nullable=True),
    sa.Column("expires_at", TIME, nullable=True, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    # The database, not the code, guarantees one account per address and tenant.
    sa.UniqueConstraint("tenant", "canonical_email"),
    sa.Index("ix_onboardkit_accounts_tenant_status", "tenant", "status"),
    **MYSQL_OPTIONS,
)

outbox = sa.Table(
    "onboardkit_outbox",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("tenant", TENANT, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("recipient", EMAIL, nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("html", sa.Text, nullable=True),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("next_attempt_at", TIME, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("sent_at", TIME, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Index("ix_onboardkit_outbox_due", "sent_at", "next_attempt_at"),
    **MYSQL_OPTIONS,
)

consent_records = sa.Table(
    "onboardkit_consent_records",
    metadata,
    sa.Column("tenant", TENANT, primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("event", sa.String(20), nullable=False),
    # As long as the ledger accepts (consent.MAX_SUBJECT_LENGTH).
    sa.Column("subject", sa.String(320), nullable=True),
    sa.Column("subject_pseudonym", sa.String(64), nullable=False, index=True),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("document_version", sa.String(64), nullable=False),
    sa.Column("text_sha256", sa.String(64), nullable=False),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
    sa.Column("method", sa.String(40), nullable=False),
    sa.Column("evidence", sa.JSON, nullable=True),
    sa.Column("evidence_digest", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("record_hash", sa.String(64), nullable=False),
    **MYSQL_OPTIONS,
)

partner_codes = sa.Table(
    "onboardkit_partner_codes",
    metadata,
    sa.Column("tenant", TENANT, primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("hint", sa.String(16), nullable=False),
    sa.Column("partner_id", sa.String(200), nullable=False),
    sa.Column("partner_name", sa.String(200), nullable=False),
    sa.Column("partner_source", sa.String(64), nullable=False),
    sa.Column("partner_details", sa.JSON, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=True),
    sa.Column("max_uses", sa.Integer, nullable=True),
    sa.Column("uses", sa.Integer, nullable=False),
    sa.Column("revoked_at", TIME, nullable=True),
    **MYSQL_OPTIONS,
)

signing_keys = sa.Table(
    "onboardkit_signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("secret", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    **MYSQL_OPTIONS,
)

rate_limits = sa.Table(
    "onboardkit_rate_limits",
    metadata,
    # "<action>:<scope>:<value digest>:<window start>", e.g. "register:ip:3f2a...:1800000000"
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("expires_at", TIME, nullable=False, index=True),
    **MYSQL_OPTIONS,
)
