"""Mail rendering: every kind in English and German, escaping, single-line subjects, overrides."""

from __future__ import annotations

import unicodedata
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onboardkit import hookimpl
from onboardkit.errors import ConfigurationError, ValidationError
from onboardkit.mail import (
    SUBJECT_MAX_LENGTH,
    MailBranding,
    MailDetails,
    Mailer,
    MailKind,
    MailRenderer,
    MailTenant,
    check_recipient,
    single_line,
)
from onboardkit.testing import FrozenClock, make_plugins

TENANT = MailTenant(
    id="acme",
    display_name="Acme Portal",
    base_url="https://portal.example.com",
    support_address="help@example.com",
)
TOKEN = "eyJhbGciOi.secret-token_value"
HOSTILE = '<script>alert("x")</script> {{ 7*7 }} {tenant} {% if true %}evaluated{% endif %}'


def details_for(kind: MailKind, **overrides: object) -> MailDetails:
    """Everything each kind can show, so every template branch renders."""
    values: dict[str, object] = {
        "recipient_name": "Ada Lovelace",
        "link_path": "/onboarding/link",
        "token": TOKEN,
        "expires_at": 1_800_000_000.0,
        "reason": "Customer number unknown",
        "roles": ("customer_admin", "viewer"),
        "inviter_name": "Grace Hopper",
        "applicant_name": "Ada Lovelace",
        "applicant_email": "ada@example.org",
        "registration_fields": {"Customer number": "K-1234", "Newsletter": True},
    }
    values.update(overrides)
    return MailDetails(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def renderer() -> MailRenderer:
    return MailRenderer()


# -- every kind, both languages ------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(MailKind))
@pytest.mark.parametrize("locale", ["en", "de"])
def test_every_kind_renders_subject_text_and_html_in_each_language(renderer, kind, locale):
    mail = renderer.render(kind, TENANT, details_for(kind), locale=locale)
    assert mail.subject
    assert "Acme Portal" in mail.text
    assert mail.html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{locale}">' in mail.html
    assert "Acme Portal" in mail.html


@pytest.mark.parametrize("kind", list(MailKind))
def test_german_mails_are_german_throughout(renderer, kind):
    english = renderer.render(kind, TENANT, details_for(kind), locale="en")
    german = renderer.render(kind, TENANT, details_for(kind), locale="de-DE")
    assert german.subject != english.subject
    assert german.text.startswith("Guten Tag Ada Lovelace,")
    assert "Mit freundlichen Grüßen" in german.text
    # Not one English sentence of the body leaks into the German mail.
    for line in english.text.splitlines():
        if len(line) > 25 and "http" not in line:
            assert line not in german.text


@pytest.mark.parametrize("kind", list(MailKind))
def test_every_mail_says_we_never_ask_for_passwords(renderer, kind):
    english = renderer.render(kind, TENANT, details_for(kind), locale="en")
    german = renderer.render(kind, TENANT, details_for(kind), locale="de")
    assert "never ask you for your password" in english.text
    assert "never ask you for your password" in english.html
    assert "niemals per E-Mail nach Ihrem Passwort" in german.text


def test_confirmation_tells_people_who_did_not_register_to_ignore_it(renderer):
    kind = MailKind.CONFIRMATION
    english = renderer.render(kind, TENANT, details_for(kind), locale="en")
    german = renderer.render(kind, TENANT, details_for(kind), locale="de")
    assert "If you did not register, you can ignore this email" in english.text
    assert "If you did not register, you can ignore this email" in english.html
    assert "Falls Sie sich nicht registriert haben" in german.text


def test_an_unknown_locale_falls_back_to_english(renderer):
    kind = MailKind.APPROVED
    assert (
        renderer.render(kind, TENANT, details_for(kind), locale="fr").text
        == renderer.render(kind, TENANT, details_for(kind), locale="en").text
    )


def test_the_expiry_is_shown_in_the_tenants_time_zone_and_language(renderer):
    berlin = MailTenant(
        id="acme", display_name="Acme", base_url="https://a.example", timezone="Europe/Berlin"
    )
    details = details_for(MailKind.INVITATION, expires_at=1_800_000_000.0)  # 2027-01-15 08:00Z
    assert "2027-01-15 09:00 CET" in renderer.render("invitation", berlin, details).text
    german = renderer.render("invitation", berlin, details, locale="de").text
    assert "15.01.2027, 09:00 Uhr CET" in german


def test_the_approval_lists_the_roles_given(renderer):
    mail = renderer.render(MailKind.APPROVED, TENANT, details_for(MailKind.APPROVED))
    assert "- customer_admin\n- viewer\n" in mail.text
    assert "<li>customer_admin</li>" in mail.html


def test_the_rejection_shows_the_reason(renderer):
    mail = renderer.render(MailKind.REJECTED, TENANT, details_for(MailKind.REJECTED), locale="de")
    assert "Begründung:\nCustomer number unknown" in mail.text


def test_the_reviewer_notice_lists_the_registrations_fields_in_the_reviewers_language(renderer):
    mail = renderer.render(
        MailKind.REVIEWER_NOTICE, TENANT, details_for(MailKind.REVIEWER_NOTICE), locale="de"
    )
    assert "- Customer number: K-1234\n- Newsletter: ja\n" in mail.text
    assert "ada@example.org" in mail.text
    assert "<th" in mail.html
    assert "K-1234" in mail.html


@pytest.mark.parametrize("kind", [MailKind.CONFIRMATION, MailKind.INVITATION, MailKind.ACTIVATION])
def test_a_link_mail_without_a_token_is_a_programming_error(renderer, kind):
    with pytest.raises(ValueError, match="token"):
        renderer.render(kind, TENANT, MailDetails(link_path="/confirm"))


# -- escaping: nothing a user typed is markup or template ------------------------------------------


def hostile_details(kind: MailKind) -> MailDetails:
    return details_for(
        kind,
        recipient_name=HOSTILE,
        reason=HOSTILE,
        roles=(HOSTILE,),
        inviter_name=HOSTILE,
        applicant_name=HOSTILE,
        registration_fields={HOSTILE: HOSTILE},
    )


@pytest.mark.parametrize("kind", list(MailKind))
def test_user_typed_text_is_escaped_in_html(renderer, kind):
    mail = renderer.render(kind, TENANT, hostile_details(kind))
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in mail.html


@pytest.mark.parametrize("kind", list(MailKind))
@pytest.mark.parametrize("locale", ["en", "de"])
def test_user_typed_text_is_never_evaluated_as_a_template(renderer, kind, locale):
    mail = renderer.render(kind, TENANT, hostile_details(kind), locale=locale)
    for part in (mail.subject, mail.text, mail.html):
        assert "49" not in part
        assert "evaluated" not in part.replace("{% if true %}evaluated", "")
    assert "{{ 7*7 }} {tenant}" in mail.text
    assert "{{ 7*7 }} {tenant}" in mail.html


def test_plain_text_keeps_what_people_typed_unescaped(renderer):
    mail = renderer.render(
        MailKind.APPROVED, TENANT, details_for("approved", recipient_name="Ann & Bob")
    )
    assert mail.text.startswith("Hello Ann & Bob,")
    assert "Hello Ann &amp; Bob," in mail.html


def test_a_name_with_line_breaks_cannot_forge_lines_of_the_mail(renderer):
    details = details_for("approved", recipient_name="Ada\nYour account was deleted.\n")
    mail = renderer.render(MailKind.APPROVED, TENANT, details)
    assert mail.text.startswith("Hello Ada Your account was deleted.,\n")


# -- subjects ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(MailKind))
def test_subjects_stay_on_one_line_whatever_the_tenant_or_user_typed(renderer, kind):
    tenant = MailTenant(
        id="acme",
        display_name="Acme\r\nBcc: victim@example.com\n\u2028Portal",
        base_url="https://portal.example.com",
    )
    details = details_for(kind, applicant_name="Eve\r\nBcc: all@example.com")
    subject = renderer.render(kind, tenant, details).subject
    assert "\r" not in subject
    assert "\n" not in subject
    assert "\u2028" not in subject
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in subject)
    assert "Acme Bcc: victim@example.com Portal" in subject or "Eve Bcc" in subject


def test_a_long_subject_is_cut_to_the_bound(renderer):
    tenant = MailTenant(id="acme", display_name="A" * 500, base_url="https://portal.example.com")
    subject = renderer.render(MailKind.REJECTED, tenant).subject
    assert len(subject) == SUBJECT_MAX_LENGTH
    assert subject.endswith("…")


@given(st.text())
def test_single_line_never_leaves_a_line_break_or_control_character(text):
    line = single_line(text)
    assert len(line) <= SUBJECT_MAX_LENGTH
    assert line == line.strip()
    assert len(line.splitlines()) <= 1
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in line)


# -- links ---------------------------------------------------------------------------------------


def test_links_start_with_the_configured_base_url_and_carry_the_token_quoted(renderer):
    tenant = MailTenant(id="acme", display_name="Acme", base_url="https://example.com/portal/")
    mail = renderer.render(
        "confirmation",
        tenant,
        MailDetails(link_path="/confirm", token="a+b/c=d"),
    )
    assert "https://example.com/portal/confirm?token=a%2Bb%2Fc%3Dd" in mail.text
    assert 'href="https://example.com/portal/confirm?token=a%2Bb%2Fc%3Dd"' in mail.html


@pytest.mark.parametrize(
    "path",
    [
        "confirm",
        "//evil.example/confirm",
        "/\\evil.example",
        "https://evil.example/confirm",
        "/confirm\r\nX: y",
        "/con firm",
        "/confirm#fragment",
    ],
)
def test_a_link_path_cannot_point_away_from_the_base_url(path):
    with pytest.raises(ValueError, match="absolute path"):
        TENANT.link(path, "token")


@given(st.text(max_size=60), st.text(max_size=40))
def test_any_link_built_stays_on_the_tenants_host(path, token):
    try:
        link = TENANT.link(path, token)
    except ValueError:
        return
    parts = urllib.parse.urlsplit(link)
    assert (parts.scheme, parts.netloc) == ("https", "portal.example.com")
    assert link.startswith("https://portal.example.com/")
    assert urllib.parse.parse_qs(parts.query).get("token", [token])[-1] == token


# -- tenant configuration ------------------------------------------------------------------------


def test_tenant_settings_are_read_from_a_mapping():
    tenant = MailTenant.from_mapping(
        {
            "display_name": "Acme Portal",
            "base_url": "https://portal.example.com",
            "support_address": "help@example.com",
            "timezone": "Europe/Berlin",
            "branding": {"accent_color": "#aa0000", "logo_url": "https://cdn.example.com/l.png"},
        },
        tenant="acme",
    )
    assert tenant.id == "acme"
    assert tenant.timezone == "Europe/Berlin"
    assert tenant.branding == MailBranding(
        logo_url="https://cdn.example.com/l.png", accent_color="#aa0000"
    )


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"base_url": "https://a.example"}, "tenants.acme.mail.display_name"),
        ({"display_name": "A"}, "tenants.acme.mail.base_url"),
        (
            {"display_name": "A", "base_url": "http://portal.example.com"},
            "tenants.acme.mail.base_url",
        ),
        ({"display_name": "A", "base_url": "javascript:alert(1)"}, "tenants.acme.mail.base_url"),
        ({"display_name": "A", "base_url": "https://u:p@a.example"}, "tenants.acme.mail.base_url"),
        ({"display_name": "A", "base_url": "https://a.example/?x=1"}, "tenants.acme.mail.base_url"),
        (
            {"display_name": "A", "base_url": "https://a.example", "support_address": "a\n@b.c"},
            "tenants.acme.mail.support_address",
        ),
        (
            {"display_name": "A", "base_url": "https://a.example", "timezone": "Mars/Olympus"},
            "tenants.acme.mail.timezone",
        ),
        (
            {
                "display_name": "A",
                "base_url": "https://a.example",
                "branding": {"accent_color": "red;background:url(https://evil.example)"},
            },
            "tenants.acme.mail.branding.accent_color",
        ),
        (
            {"display_name": "A", "base_url": "https://a.example", "colour": "#000000"},
            "tenants.acme.mail.colour",
        ),
    ],
)
def test_bad_tenant_settings_name_the_exact_key(config, key):
    with pytest.raises(ConfigurationError) as caught:
        MailTenant.from_mapping(config, tenant="acme", key="tenants.acme.mail")
    assert caught.value.params["key"] == key


# Reads certificate and time-zone files: no per-example deadline on a busy machine.
@settings(deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["display_name", "base_url", "support_address", "timezone", "branding", "x"]
        ),
        st.one_of(
            st.text(max_size=30),
            st.sampled_from(["https://a.example", "UTC", "Europe/Berlin", "a@b.example"]),
            st.dictionaries(
                st.sampled_from(["logo_url", "accent_color", "footer"]),
                st.one_of(st.text(max_size=10), st.sampled_from(["#000000", "https://l.example"])),
            ),
            st.integers(),
            st.none(),
        ),
    )
)
def test_any_tenant_mapping_gives_settings_or_a_configuration_error(config):
    try:
        tenant = MailTenant.from_mapping(config, tenant="acme")
    except ConfigurationError as error:
        key = str(error.params["key"])
    else:
        assert tenant.link("/x").startswith(tenant.base_url.rstrip("/"))
        return
    assert key.startswith("mail.")


def test_http_base_urls_are_allowed_for_localhost_only():
    assert MailTenant(id="dev", display_name="Dev", base_url="http://localhost:8000").link(
        "/x"
    ) == ("http://localhost:8000/x")
    with pytest.raises(ValueError, match="https"):
        MailTenant(id="dev", display_name="Dev", base_url="http://dev.example.com")


def test_branding_appears_in_the_html_mail(renderer):
    tenant = MailTenant(
        id="acme",
        display_name="Acme",
        base_url="https://a.example",
        branding=MailBranding(
            logo_url="https://cdn.example.com/logo.png?a=1",
            accent_color="#aa0000",
            footer="Acme GmbH",
        ),
    )
    mail = renderer.render("confirmation", tenant, MailDetails(link_path="/c", token="t"))
    assert 'src="https://cdn.example.com/logo.png?a=1"' in mail.html
    assert "background:#aa0000" in mail.html
    assert "Acme GmbH" in mail.text
    with pytest.raises(ValueError, match="accent_color"):
        MailBranding(accent_color="#fff;x:y")


# -- template folders: host first, then plugins, then the defaults ---------------------------------


def write(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_host_template_overrides_the_default(tmp_path):
    write(tmp_path, "mail/rejected.txt", "Host text for {{ tenant.display_name }}\n")
    renderer = MailRenderer(template_folders=[tmp_path])
    mail = renderer.render(MailKind.REJECTED, TENANT)
    assert mail.text == "Host text for Acme Portal\n"
    assert "<!DOCTYPE html>" in mail.html  # the HTML still comes from the defaults


def test_a_host_template_can_extend_the_default_layout(tmp_path):
    write(
        tmp_path,
        "mail/rejected.html",
        '{% extends "mail/layout.html" %}{% block body %}<p>Sorry, {{ reason }}</p>{% endblock %}',
    )
    mail = MailRenderer(template_folders=[tmp_path]).render(
        MailKind.REJECTED, TENANT, MailDetails(reason="<b>no</b>"), locale="de"
    )
    assert "<p>Sorry, &lt;b&gt;no&lt;/b&gt;</p>" in mail.html
    assert "Mit freundlichen Grüßen" in mail.html


def test_a_language_specific_host_template_is_used_for_that_language_only(tmp_path):
    write(tmp_path, "mail/de/rejected.subject", "Leider nein\n")
    renderer = MailRenderer(template_folders=[tmp_path])
    assert renderer.render(MailKind.REJECTED, TENANT, locale="de").subject == "Leider nein"
    assert renderer.render(MailKind.REJECTED, TENANT, locale="en").subject == (
        "Your registration with Acme Portal"
    )


class FolderPlugin:
    def __init__(self, folder: Path, tenant: str) -> None:
        self.folder = folder
        self.tenant = tenant

    @hookimpl
    def onboardkit_template_folders(self, tenant):
        return [self.folder] if tenant == self.tenant else None


def test_a_plugin_adds_template_folders_for_the_tenants_it_serves(tmp_path):
    write(tmp_path, "mail/approved.subject", "Welcome aboard, {{ tenant.display_name }}\n")
    renderer = MailRenderer(plugins=make_plugins(FolderPlugin(tmp_path, "acme")))
    other = MailTenant(id="globex", display_name="Globex", base_url="https://g.example")
    assert renderer.render(MailKind.APPROVED, TENANT).subject == "Welcome aboard, Acme Portal"
    assert renderer.render(MailKind.APPROVED, other).subject == (
        "Your access to Globex has been approved"
    )


def test_the_hosts_folders_come_before_the_plugins(tmp_path):
    host, plugin = tmp_path / "host", tmp_path / "plugin"
    write(host, "mail/approved.subject", "host\n")
    write(plugin, "mail/approved.subject", "plugin\n")
    renderer = MailRenderer([host], plugins=make_plugins(FolderPlugin(plugin, "acme")))
    assert renderer.render(MailKind.APPROVED, TENANT).subject == "host"
    assert renderer.folders("acme")[:2] == (str(host), str(plugin))


# -- the mailer ----------------------------------------------------------------------------------


def test_the_mailer_composes_an_outbox_mail_due_now():
    clock = FrozenClock(1_700_000_000.0)
    mail = Mailer(clock=clock).compose(
        MailKind.INVITATION,
        TENANT,
        "ada@example.org",
        details_for(MailKind.INVITATION),
        locale="de",
    )
    assert (mail.tenant, mail.kind, mail.recipient) == ("acme", "invitation", "ada@example.org")
    assert mail.subject == "Einladung zu Acme Portal"
    assert mail.created_at == mail.next_attempt_at == clock.now
    assert (mail.attempts, mail.sent_at) == (0, None)
    assert TOKEN not in repr(mail)


@pytest.mark.parametrize(
    "recipient",
    [
        "ada@example.org\r\nBcc: everyone@example.com",
        "ada@example.org\n",
        "ada@example.org, eve@example.com",
        "Ada <ada@example.org>",
        "ada@example.org\x00",
        "not an address",
    ],
)
def test_the_mailer_refuses_a_recipient_that_is_not_one_plain_address(recipient):
    with pytest.raises(ValidationError) as caught:
        Mailer().compose(MailKind.REJECTED, TENANT, recipient)
    assert caught.value.issues[0].path == "recipient"


def test_an_unsafe_header_error_reads_in_german():
    with pytest.raises(ValidationError) as caught:
        check_recipient("ada@example.org\r\nBcc: x@example.com")
    (issue,) = caught.value.issues
    assert issue.code == "mail.unsafe_header"
    assert issue.localized("de") == (
        "Eine Kopfzeile einer E-Mail darf keine Zeilenumbrüche oder Steuerzeichen enthalten."
    )


@given(st.text(max_size=40))
def test_no_recipient_with_a_control_character_is_ever_accepted(text):
    candidate = f"ada{text}@example.org"
    try:
        check_recipient(candidate)
    except ValidationError:
        return
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in candidate)
    assert "," not in candidate
