"""onboardkit's tables: accounts, organizations, outbox, consent records, partner codes, signing
keys and rate limits.

Revision ID: 0001
Revises:
Create Date: 2026-11-20
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is a snapshot: it never imports onboardkit.schema, which moves on.

ID = sa.String(length=32)
TENANT = sa.String(length=128)
EMAIL = sa.String(length=254)
TIME: sa.Double[float] = sa.Double()
# Exact (binary) comparison of text on MariaDB, as on PostgreSQL and SQLite.
MYSQL_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "onboardkit_organizations",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboardkit_organizations")),
        **MYSQL_OPTIONS,
    )
    op.create_index(
        op.f("ix_onboardkit_organizations_tenant"), "onboardkit_organizations", ["tenant"]
    )

    op.create_table(
        "onboardkit_accounts",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("flow", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("email", EMAIL, nullable=False),
        sa.Column("canonical_email", EMAIL, nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("user_type", sa.String(length=64), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("organization_id", ID, nullable=True),
        sa.Column("partner", sa.JSON(), nullable=True),
        sa.Column("invited_by", sa.String(length=254), nullable=True),
        sa.Column("reviewed_by", sa.String(length=254), nullable=True),
        sa.Column("rejection_reason", sa.String(length=2000), nullable=True),
        sa.Column("pending_consents", sa.JSON(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("confirmed_at", TIME, nullable=True),
        sa.Column("decided_at", TIME, nullable=True),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["onboardkit_organizations.id"],
            name=op.f("fk_onboardkit_accounts_organization_id_onboardkit_organizations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboardkit_accounts")),
        sa.UniqueConstraint(
            "tenant",
            "canonical_email",
            name=op.f("uq_onboardkit_accounts_tenant_canonical_email"),
        ),
        **MYSQL_OPTIONS,
    )
    op.create_index(
        op.f("ix_onboardkit_accounts_organization_id"), "onboardkit_accounts", ["organization_id"]
    )
    op.create_index(
        op.f("ix_onboardkit_accounts_expires_at"), "onboardkit_accounts", ["expires_at"]
    )
    op.create_index(
        "ix_onboardkit_accounts_tenant_status", "onboardkit_accounts", ["tenant", "status"]
    )

    op.create_table(
        "onboardkit_outbox",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient", EMAIL, nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", TIME, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboardkit_outbox")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_onboardkit_outbox_due", "onboardkit_outbox", ["sent_at", "next_attempt_at"])

    op.create_table(
        "onboardkit_consent_records",
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=320), nullable=True),
        sa.Column("subject_pseudonym", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("document_version", sa.String(length=64), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("recorded_at_us", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("evidence_digest", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "sequence", name=op.f("pk_onboardkit_consent_records")),
        **MYSQL_OPTIONS,
    )
    op.create_index(
        op.f("ix_onboardkit_consent_records_subject_pseudonym"),
        "onboardkit_consent_records",
        ["subject_pseudonym"],
    )

    op.create_table(
        "onboardkit_partner_codes",
        sa.Column("tenant", TENANT, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("partner_id", sa.String(length=200), nullable=False),
        sa.Column("partner_name", sa.String(length=200), nullable=False),
        sa.Column("partner_source", sa.String(length=64), nullable=False),
        sa.Column("partner_details", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("tenant", "digest", name=op.f("pk_onboardkit_partner_codes")),
        **MYSQL_OPTIONS,
    )

    op.create_table(
        "onboardkit_signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_onboardkit_signing_keys")),
        **MYSQL_OPTIONS,
    )

    op.create_table(
        "onboardkit_rate_limits",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_onboardkit_rate_limits")),
        **MYSQL_OPTIONS,
    )
    op.create_index(
        op.f("ix_onboardkit_rate_limits_expires_at"), "onboardkit_rate_limits", ["expires_at"]
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; accounts go before the organizations they refer to.
    for table in (
        "onboardkit_rate_limits",
        "onboardkit_signing_keys",
        "onboardkit_partner_codes",
        "onboardkit_consent_records",
        "onboardkit_outbox",
        "onboardkit_accounts",
        "onboardkit_organizations",
    ):
        op.drop_table(table)
