"""onboardkit in the Django admin: the review queue, accounts, the outbox, the consent ledger and
partner codes.

The admin reads onboardkit's rows through the app's models, and changes nothing in them itself:
approving, rejecting, issuing and revoking a partner code and sending mail again go through the
project's onboarding service, as the views and ``manage.py onboardkit`` do (django-allauth's
admin calls its flows the same way). The service's typed errors come back as the form's errors,
in the admin's language.

Who may act is the ``ONBOARDKIT["REVIEW_PERMISSION"]`` permission (``onboardkit.review_account``
by default): staff with it see the accounts, the outbox, the ledger and the partner codes and use
the actions; staff without it see what Django's view permissions give them, and no actions.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import get_language

from onboardkit.errors import OnboardkitError, ValidationError
from onboardkit.tenants import Tenant
from onboardkit_django.conf import plugin_settings
from onboardkit_django.models import AccountRow, ConsentRecordRow, OutboxMailRow, PartnerCodeRow
from onboardkit_django.service import Service, service

if TYPE_CHECKING:
    from onboardkit.outbox import DeliveryReport

__all__ = [
    "AccountAdmin",
    "ConsentRecordAdmin",
    "OutboxAdmin",
    "PartnerCodeAdmin",
    "may_review",
    "reviewer_of",
]

PENDING_REVIEW = "pending_review"
DAY = 86400.0


def may_review(request: HttpRequest) -> bool:
    """Whether the signed-in staff member holds the review permission."""
    user: Any = request.user
    return bool(
        user.is_active and user.is_staff and user.has_perm(plugin_settings().review_permission)
    )


def reviewer_of(request: HttpRequest) -> str:
    """Who the service records as the reviewer: the staff member's address, else the name."""
    user = request.user
    return str(getattr(user, "email", "") or user.get_username())


def _when(value: float | None) -> datetime.datetime | None:
    return None if value is None else datetime.datetime.fromtimestamp(value, datetime.timezone.utc)


def _text(error: OnboardkitError) -> str:
    return error.localized(get_language())


def _show_issues(form: forms.Form, error: ValidationError) -> None:
    """The service's issues on the form: at the field of their path, else above the form."""
    for issue in error.issues:
        field = re.split(r"[.\[]", issue.path, maxsplit=1)[0]
        form.add_error(field if field in form.fields else None, issue.localized(get_language()))
    if not error.issues:
        form.add_error(None, _text(error))


class OnboardkitAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only over onboardkit's rows; reviewers see them without Django's view permission."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_view_permission(request, obj) or may_review(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or may_review(request)

    def has_review_permission(self, request: HttpRequest) -> bool:
        return may_review(request)

    def _selection_page(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        template: str,
        action: str,
        **context: Any,
    ) -> TemplateResponse:
        """An intermediate page of an action (like Django's "delete selected")."""
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": context.pop("title"),
                "action": action,
                "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)],
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                **context,
            },
        )


class _RolesField(forms.MultipleChoiceField):
    """The tenant's roles as choices; the service, not the field, says what it accepts."""

    def validate(self, value: Any) -> None:
        return None


class _UserTypeField(forms.ChoiceField):
    def validate(self, value: Any) -> None:
        return None


class ApproveForm(forms.Form):
    """Roles and user type for approved accounts; the service checks them against the tenant."""

    roles = _RolesField(required=False, widget=forms.CheckboxSelectMultiple)
    user_type = _UserTypeField(required=False)

    def __init__(self, tenant: Tenant, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        roles = self.fields["roles"]
        assert isinstance(roles, forms.MultipleChoiceField)
        roles.choices = [(role, role) for role in tenant.roles]
        kinds = self.fields["user_type"]
        assert isinstance(kinds, forms.ChoiceField)
        kinds.choices = [("", "—"), *((name, name) for name in tenant.user_types)]


class RejectForm(forms.Form):
    """The reason the person reads in the rejection mail."""

    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))


class StatusFilter(admin.SimpleListFilter):
    """The review queue first: the accounts waiting for a decision."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        statuses = AccountRow.objects.order_by().values_list("status", flat=True).distinct()
        others = sorted(set(statuses) - {PENDING_REVIEW})
        return [(PENDING_REVIEW, "waiting for review (review queue)")] + [(s, s) for s in others]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(status=value) if value else queryset


@admin.register(AccountRow)
class AccountAdmin(OnboardkitAdmin):
    """Accounts, read-only; the review queue is the "waiting for review" filter, with the
    approve and reject actions."""

    list_display = ("email", "tenant", "status", "flow", "user_type", "created", "confirmed")
    list_filter = (StatusFilter, "tenant", "flow", "user_type")
    search_fields = ("email", "canonical_email", "id", "reviewed_by", "invited_by")
    ordering = ("created_at",)
    # The password hash and the pending consents are the service's, not the admin's, to show.
    fields = (
        "id",
        "tenant",
        "flow",
        "status",
        "email",
        "locale",
        "profile",
        "fields",
        "user_type",
        "roles",
        "organization",
        "partner",
        "invited_by",
        "reviewed_by",
        "rejection_reason",
        "created",
        "confirmed",
        "decided",
    )
    readonly_fields = fields
    actions = ("approve", "reject")

    @admin.display(description="registered", ordering="created_at")
    def created(self, row: AccountRow) -> datetime.datetime | None:
        return _when(row.created_at)

    @admin.display(description="confirmed", ordering="confirmed_at")
    def confirmed(self, row: AccountRow) -> datetime.datetime | None:
        return _when(row.confirmed_at)

    @admin.display(description="decided", ordering="decided_at")
    def decided(self, row: AccountRow) -> datetime.datetime | None:
        return _when(row.decided_at)

    def get_urls(self) -> list[Any]:
        from django.urls import path

        queue = path(
            "review/",
            self.admin_site.admin_view(self.review_queue),
            name="onboardkit_accountrow_review",
        )
        return [queue, *super().get_urls()]

    def review_queue(self, request: HttpRequest) -> HttpResponse:
        """``…/accountrow/review/``: the changelist filtered to the review queue."""
        name = "admin:onboardkit_accountrow_changelist"
        changelist = reverse(name, current_app=self.admin_site.name)
        return HttpResponseRedirect(f"{changelist}?status={PENDING_REVIEW}")

    def _waiting(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> tuple[Tenant, list[AccountRow]] | None:
        accounts = list(queryset.filter(status=PENDING_REVIEW))
        tenants = {row.tenant for row in accounts}
        if not accounts:
            self.message_user(request, "None of the selected accounts waits for review.")
            return None
        if len(tenants) > 1:
            self.message_user(
                request, "Choose the accounts of one tenant at a time.", messages.ERROR
            )
            return None
        return service().onboarding.tenants.get_tenant(accounts[0].tenant), accounts

    def _decide(
        self,
        request: HttpRequest,
        accounts: Sequence[AccountRow],
        form: forms.Form,
        decide: Any,
        done: str,
    ) -> bool:
        """Run ``decide(row)`` for each account; ``False`` when the form shows the errors."""
        count = 0
        for row in accounts:
            try:
                decide(row)
            except ValidationError as error:
                # The same choice fails for every account: say it once, on the form.
                _show_issues(form, error)
                break
            except OnboardkitError as error:
                self.message_user(request, f"{row.email}: {_text(error)}", messages.ERROR)
            else:
                count += 1
        if form.errors:
            return False
        if count:
            self.message_user(request, f"{done} {count} account(s).", messages.SUCCESS)
        return True

    @admin.action(description="Approve selected registrations…", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        waiting = self._waiting(request, queryset)
        if waiting is None:
            return None
        tenant, accounts = waiting
        form = ApproveForm(tenant, request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            onboarding = service().onboarding
            reviewer = reviewer_of(request)

            def approve(row: AccountRow) -> None:
                onboarding.approve(
                    row.tenant,
                    row.id,
                    reviewer=reviewer,
                    roles=form.cleaned_data["roles"],
                    user_type=form.cleaned_data["user_type"] or None,
                )

            if self._decide(request, accounts, form, approve, "Approved"):
                return None
        return self._selection_page(
            request,
            queryset,
            "onboardkit_django/admin/decision.html",
            "approve",
            title=f"Approve registrations in {tenant.name}",
            form=form,
            accounts=accounts,
            button="Approve",
        )

    @admin.action(description="Reject selected registrations…", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        waiting = self._waiting(request, queryset)
        if waiting is None:
            return None
        tenant, accounts = waiting
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            onboarding = service().onboarding
            reviewer = reviewer_of(request)

            def reject(row: AccountRow) -> None:
                onboarding.reject(
                    row.tenant, row.id, reviewer=reviewer, reason=form.cleaned_data["reason"]
                )

            if self._decide(request, accounts, form, reject, "Rejected"):
                return None
        return self._selection_page(
            request,
            queryset,
            "onboardkit_django/admin/decision.html",
            "reject",
            title=f"Reject registrations in {tenant.name}",
            form=form,
            accounts=accounts,
            button="Reject",
        )


def _deliver(built: Service) -> DeliveryReport:
    """One round of the outbox worker, with the transport ``manage.py onboardkit`` uses."""
    from onboardkit.deployment import Deployment
    from onboardkit_django.mail import DjangoEmailTransport

    deployment = Deployment(
        built.onboarding,
        settings=built.settings,
        transport=DjangoEmailTransport()
        if built.settings is None or built.settings.mail.transport is None
        else None,
        migrations=None,
        migrate_with="python manage.py migrate",
    )
    return deployment.outbox_worker().deliver_once()


class SentFilter(admin.SimpleListFilter):
    title = "sent"
    parameter_name = "sent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "not yet"), ("yes", "sent")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            queryset = queryset.filter(sent_at__isnull=self.value() == "no")
        return queryset


@admin.register(OutboxMailRow)
class OutboxAdmin(OnboardkitAdmin):
    """The outbox, read-only, with "retry now" for mail not sent yet."""

    list_display = ("recipient", "kind", "tenant", "subject", "created", "attempts", "sent")
    list_filter = (SentFilter, "tenant", "kind")
    search_fields = ("recipient", "subject", "id")
    ordering = ("-created_at",)
    fields = (
        "id",
        "tenant",
        "kind",
        "recipient",
        "subject",
        "text",
        "created",
        "attempts",
        "next_attempt",
        "last_error",
        "sent",
    )
    readonly_fields = fields
    actions = ("retry_now",)

    @admin.display(description="created", ordering="created_at")
    def created(self, row: OutboxMailRow) -> datetime.datetime | None:
        return _when(row.created_at)

    @admin.display(description="next attempt", ordering="next_attempt_at")
    def next_attempt(self, row: OutboxMailRow) -> datetime.datetime | None:
        return _when(row.next_attempt_at)

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, row: OutboxMailRow) -> datetime.datetime | None:
        return _when(row.sent_at)

    @admin.action(description="Retry now", permissions=["review"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        built = service()
        waiting = list(queryset.filter(sent_at__isnull=True).values_list("id", "last_error"))
        if not waiting:
            self.message_user(request, "The selected mail is sent already.")
            return
        now = built.onboarding.clock()

        def due_now(tx: Any) -> None:
            for mail_id, error in waiting:
                tx.mark_mail_failed(mail_id, error or "", now)

        built.onboarding.store.atomic(due_now)
        report = _deliver(built)
        level = messages.SUCCESS if not (report.failed or report.gave_up) else messages.WARNING
        self.message_user(
            request,
            f"Sent {report.sent}, failed {report.failed + report.gave_up} "
            f"(of {len(waiting)} selected, with any other mail that was due).",
            level,
        )


@admin.register(ConsentRecordRow)
class ConsentRecordAdmin(OnboardkitAdmin):
    """The consent ledger, view-only: its records are a hash chain."""

    list_display = ("tenant", "sequence", "event", "purpose", "document_version", "subject", "at")
    list_filter = ("tenant", "event", "purpose")
    search_fields = ("subject", "subject_pseudonym", "record_hash")
    ordering = ("tenant", "-sequence")
    actions = None

    @admin.display(description="recorded", ordering="recorded_at_us")
    def at(self, row: ConsentRecordRow) -> datetime.datetime:
        return _when(row.recorded_at_us / 1_000_000)  # type: ignore[return-value]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]


class IssueCodeForm(forms.Form):
    """A partner and the limits of its first code; the registry checks them."""

    tenant = forms.ChoiceField()
    name = forms.CharField(max_length=200, required=False)
    expires_in_days = forms.IntegerField(required=False, min_value=1)
    max_uses = forms.IntegerField(required=False)

    def __init__(self, tenants: Iterable[Tenant], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tenant"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(tenant.id, f"{tenant.name} ({tenant.id})") for tenant in tenants]


@admin.register(PartnerCodeRow)
class PartnerCodeAdmin(OnboardkitAdmin):
    """Partner codes: issued here (the code shown once, only its digest stored) and revoked."""

    list_display = ("code_hint", "partner_name", "tenant", "uses", "max_uses", "expires", "revoked")
    list_filter = ("tenant", "partner_source")
    search_fields = ("partner_name", "partner_id", "hint")
    ordering = ("-created_at",)
    fields = (
        "tenant",
        "code_hint",
        "partner_id",
        "partner_name",
        "partner_source",
        "partner_details",
        "issued",
        "expires",
        "max_uses",
        "uses",
        "revoked",
    )
    readonly_fields = fields
    actions = ("revoke",)

    @admin.display(description="code", ordering="hint")
    def code_hint(self, row: PartnerCodeRow) -> str:
        return f"…{row.hint}"

    @admin.display(description="issued", ordering="created_at")
    def issued(self, row: PartnerCodeRow) -> datetime.datetime | None:
        return _when(row.created_at)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, row: PartnerCodeRow) -> datetime.datetime | None:
        return _when(row.expires_at)

    @admin.display(description="revoked", ordering="revoked_at")
    def revoked(self, row: PartnerCodeRow) -> datetime.datetime | None:
        return _when(row.revoked_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return may_review(request)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Issue a code: the registry makes it, this page shows it once."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        onboarding = service().onboarding
        tenants = list(onboarding.tenants.values())
        form = IssueCodeForm(tenants, request.POST if request.method == "POST" else None)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Issue a partner code",
            "form": form,
        }
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            days = data["expires_in_days"]
            try:
                partner, code = onboarding.partner_registry.create(
                    data["tenant"],
                    data["name"],
                    expires_at=onboarding.clock() + days * DAY if days else None,
                    max_uses=data["max_uses"],
                )
            except ValidationError as error:
                _show_issues(form, error)
            else:
                context.update(title="Partner code issued", partner=partner, code=code)
                return TemplateResponse(
                    request, "onboardkit_django/admin/partner_code_issued.html", context
                )
        return TemplateResponse(request, "onboardkit_django/admin/partner_code_issue.html", context)

    @admin.action(description="Revoke selected codes", permissions=["review"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        onboarding = service().onboarding
        now = onboarding.clock()
        codes = list(queryset.values_list("tenant", "digest"))

        def revoke(tx: Any) -> int:
            return sum(bool(tx.partner_codes.revoke(t, digest, now)) for t, digest in codes)

        revoked = onboarding.store.atomic(revoke)
        self.message_user(request, f"Revoked {revoked} code(s).", messages.SUCCESS)
