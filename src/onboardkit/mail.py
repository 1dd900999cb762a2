"""Mail: every message onboardkit sends, rendered from Jinja2 templates in English and German.

A :class:`MailRenderer` turns a :class:`MailKind` plus the facts of one mail (:class:`MailDetails`)
into a :class:`RenderedMail`: a single-line subject, a plain-text body and an HTML body. A
:class:`Mailer` adds the recipient and wraps the result into an
:class:`~onboardkit.storage.OutboxMail`, which the flows put into the outbox inside their
transaction (:func:`onboardkit.outbox.enqueue`); the outbox worker sends it later.

Templates live in ``onboardkit/templates/mail/``: ``<kind>.subject``, ``<kind>.txt`` and
``<kind>.html``, sharing ``layout.txt``, ``layout.html`` and ``macros.html``. They are language
neutral: every sentence is a text declared here with :func:`~onboardkit.errors.message` and
called as ``t("mail.confirmation.intro", tenant=...)``, so German comes from the gettext catalog
``mail.po`` like every other text of onboardkit, and a host that restyles a mail keeps the
translations. Template folders are searched in this order (a jinja2 ``ChoiceLoader``):

1. the host's folders (``MailRenderer(template_folders=[...])``),
2. the folders plugins return from ``onboardkit_template_folders(tenant=...)``,
3. onboardkit's defaults.

Within that order ``mail/<language>/<kind>.<ext>`` is tried before ``mail/<kind>.<ext>``, so a
host may also write a German mail in German outright.

Safety: the HTML environment escapes every value (autoescape on); the text environment does not
escape but is never given a template built from user input; values are inserted with
``str.format``, which never evaluates them. Subjects are forced onto one bounded line. Links are
built from the tenant's configured base URL only, never from a request.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import attrs
import jinja2

from onboardkit.accounts import new_id
from onboardkit.addresses import parse_email
from onboardkit.clock import Clock, system_clock
from onboardkit.errors import ConfigurationError, Issue, Message, ValidationError, message
from onboardkit.i18n import normalize_locale
from onboardkit.storage import OutboxMail

if TYPE_CHECKING:
    from onboardkit.plugins import Plugins

__all__ = [
    "DEFAULT_TEMPLATE_FOLDER",
    "SUBJECT_MAX_LENGTH",
    "MailBranding",
    "MailDetails",
    "MailKind",
    "MailRenderer",
    "MailTenant",
    "Mailer",
    "RenderedMail",
    "check_header_value",
    "check_recipient",
    "single_line",
]

#: onboardkit's own templates; ``mail/`` inside it holds the mails.
DEFAULT_TEMPLATE_FOLDER = Path(__file__).parent / "templates"

#: Subjects longer than this are cut (with an ellipsis); the outbox column holds 255.
SUBJECT_MAX_LENGTH = 200


class MailKind(str, enum.Enum):
    """Which mail: each kind has its own templates."""

    #: Double opt-in: confirm the address of a new registration.
    CONFIRMATION = "confirmation"
    #: Someone registered with an address that already has an account (no enumeration).
    ALREADY_REGISTERED = "already_registered"
    #: An administrator invited the person; the link lets them choose a password.
    INVITATION = "invitation"
    #: Email-first sign-up: the link that continues the registration.
    ACTIVATION = "activation"
    #: The registration was approved after review.
    APPROVED = "approved"
    #: The registration was rejected after review.
    REJECTED = "rejected"
    #: Tells a reviewer that a confirmed registration waits for review.
    REVIEWER_NOTICE = "reviewer_notice"


#: Kinds whose whole point is a signed link: rendering one without a token is a bug.
_NEEDS_TOKEN = frozenset({MailKind.CONFIRMATION, MailKind.INVITATION, MailKind.ACTIVATION})

# -- texts ---------------------------------------------------------------------------------------

UNSAFE_HEADER = message(
    "mail.unsafe_header", "A mail header must not contain line breaks or control characters."
)

_TEXTS: tuple[Message, ...] = (
    UNSAFE_HEADER,
    message("mail.greeting", "Hello {name},"),
    message("mail.greeting_anonymous", "Hello,"),
    message("mail.closing", "Kind regards,"),
    message("mail.support", "If you have any questions, please contact {support}."),
    message(
        "mail.no_passwords",
        "We will never ask you for your password by email. "
        "Please do not share your access data with anyone.",
    ),
    message("mail.link_fallback", "If the button does not work, copy this link into your browser:"),
    message("mail.link_expires", "The link is valid until {expires}."),
    message("mail.datetime", "{when:%Y-%m-%d %H:%M %Z}"),
    message("mail.yes", "yes"),
    message("mail.no", "no"),
    message("mail.login_action", "Go to login"),
    # confirmation
    message("mail.confirmation.subject", "Please confirm your email address for {tenant}"),
    message(
        "mail.confirmation.intro",
        "Thank you for registering with {tenant}. Please confirm your email address so that "
        "your registration can continue.",
    ),
    message("mail.confirmation.action", "Confirm email address"),
    message(
        "mail.confirmation.ignore",
        "If you did not register, you can ignore this email: without your confirmation the "
        "registration does not continue, and it expires automatically.",
    ),
    # already registered
    message(
        "mail.already_registered.subject",
        "Registration attempt with your email address at {tenant}",
    ),
    message(
        "mail.already_registered.intro",
        "Someone has just tried to register with {tenant} using your email address. An account "
        "with this address already exists, so no new account was created.",
    ),
    message(
        "mail.already_registered.login",
        "If that was you, you can simply log in. If you have forgotten your password, you can "
        "reset it on the login page.",
    ),
    message(
        "mail.already_registered.ignore",
        "If it was not you, you can ignore this email. Your account remains unchanged.",
    ),
    # invitation
    message("mail.invitation.subject", "Invitation to {tenant}"),
    message("mail.invitation.intro", "You have been invited to {tenant}."),
    message("mail.invitation.intro_by", "{inviter} has invited you to {tenant}."),
    message(
        "mail.invitation.next",
        "To accept the invitation, please follow the link and choose a password. You can then "
        "log in with your email address and this password.",
    ),
    message("mail.invitation.action", "Accept invitation"),
    message(
        "mail.invitation.ignore",
        "If you were not expecting this invitation, you can ignore this email.",
    ),
    # activation (email-first sign-up)
    message("mail.activation.subject", "Continue your registration with {tenant}"),
    message(
        "mail.activation.intro",
        "You would like to create an account with {tenant}. Please follow the link to confirm "
        "your email address and to enter your company details, your user details and a password.",
    ),
    message("mail.activation.action", "Continue registration"),
    message(
        "mail.activation.ignore",
        "If you did not ask for this, you can ignore this email; no account will be created.",
    ),
    # approved
    message("mail.approved.subject", "Your access to {tenant} has been approved"),
    message(
        "mail.approved.intro",
        "Your registration with {tenant} has been reviewed and approved. You can now log in "
        "with your email address and your password.",
    ),
    message("mail.approved.roles", "You have been given the following roles:"),
    # rejected
    message("mail.rejected.subject", "Your registration with {tenant}"),
    message(
        "mail.rejected.intro",
        "Unfortunately, your registration with {tenant} could not be approved.",
    ),
    message("mail.rejected.reason", "Reason:"),
    # reviewer notice
    message("mail.reviewer_notice.subject", "New registration to review: {applicant}"),
    message(
        "mail.reviewer_notice.intro",
        "{applicant} has registered with {tenant} and confirmed the email address {email}. "
        "Please review the registration.",
    ),
    message("mail.reviewer_notice.details", "Details of the registration:"),
    message("mail.reviewer_notice.action", "Review registration"),
)

_TEXTS_BY_CODE: Mapping[str, Message] = {text.code: text for text in _TEXTS}

# -- single lines and header values --------------------------------------------------------------

# Control characters (CR and LF among them), format characters (bidirectional overrides,
# zero-width characters) and the Unicode line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_SPACES = re.compile(r"\s+")


def single_line(text: str, limit: int = SUBJECT_MAX_LENGTH) -> str:
    """``text`` on one line: line breaks, control characters and runs of white space become one
    space, and anything beyond ``limit`` characters is cut off with an ellipsis."""
    cleaned = "".join(
        " " if unicodedata.category(character) in _UNSAFE_CATEGORIES else character
        for character in text
    )
    line = _SPACES.sub(" ", cleaned).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def check_header_value(value: str, *, path: str) -> str:
    """``value`` unchanged if it is safe in a mail header (no CR, LF or control character).

    :raises ValidationError: with one issue ``mail.unsafe_header`` at ``path``.
    """
    if any(unicodedata.category(character) in _UNSAFE_CATEGORIES for character in value):
        raise ValidationError([Issue(path, UNSAFE_HEADER)])
    return value


def check_recipient(recipient: str, *, path: str = "recipient") -> str:
    """``recipient`` unchanged if it is one plain address (no display name, no second address).

    Addresses are parsed when they are entered; this is the second line of defence right where
    a header is written.

    :raises ValidationError: with one issue (``mail.unsafe_header``, ``email.invalid``, ...).
    """
    _check_plain_address(recipient, path)
    return recipient


@functools.lru_cache(maxsize=1024)
def _check_plain_address(recipient: str, path: str) -> None:
    # Each mail's recipient is checked when it is composed and again when it is queued and sent,
    # and parsing an address is the dearest part of composing a mail. Only addresses that
    # passed are remembered (a raised error is never cached), and the answer depends on nothing
    # but the two strings.
    check_header_value(recipient, path=path)
    parse_email(recipient, path=path)


# -- the tenant as mails show it -----------------------------------------------------------------

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _color_problem(value: object) -> str | None:
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        return "expected a colour like #1f6feb"
    return None


def _url_problem(value: object, *, base: bool = False) -> str | None:
    if not isinstance(value, str) or not value:
        return "expected a URL such as https://portal.example.com"
    if any(unicodedata.category(character) in _UNSAFE_CATEGORIES for character in value):
        return "must not contain control characters"
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "expected a URL such as https://portal.example.com"
    if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
        return "must use https (http only for localhost)"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    if base and (parts.query or parts.fragment):
        return "must not contain a query or fragment"
    return None


def _base_url_problem(value: object) -> str | None:
    return _url_problem(value, base=True)


def _text_problem(value: object) -> str | None:
    return None if isinstance(value, str) and value.strip() else "expected a non-empty text"


def _support_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "expected an email address"
    try:
        check_recipient(value)
    except ValidationError:
        return "expected an email address"
    return None


def _timezone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return timezone.utc
    return ZoneInfo(name)


def _timezone_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "expected a time zone name such as Europe/Berlin"
    try:
        _timezone(value)
    except (ValueError, OSError, LookupError):
        return "unknown time zone"
    return None


def _check(problem: str | None, key: str) -> None:
    if problem is not None:
        raise ConfigurationError(key=key, reason=problem)


def _checked_text(value: object, problem_of: Callable[[object], str | None], key: str) -> str:
    _check(problem_of(value), key)
    assert isinstance(value, str)  # every problem function refuses what is not text
    return value


def _validated(problem_of: Any) -> Any:
    """An attrs validator raising ``ValueError`` with the problem the config check would name."""

    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        problem = problem_of(value)
        if problem is not None:
            raise ValueError(f"{attribute.name}: {problem}")

    return validate


def _optional(problem_of: Any) -> Any:
    def problem(value: object) -> str | None:
        return None if value is None else problem_of(value)

    return problem


def _table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(key=key, reason="expected a table")
    return value


def _no_unknown_keys(table: Mapping[str, Any], allowed: Iterable[str], key: str) -> None:
    known = set(allowed)
    for name in table:
        if name not in known:
            raise ConfigurationError(key=f"{key}.{name}", reason="unknown setting")


@attrs.frozen
class MailBranding:
    """How a tenant's HTML mails look: a logo, an accent colour, a footer line (an imprint)."""

    logo_url: str | None = attrs.field(default=None, validator=_validated(_optional(_url_problem)))
    accent_color: str = attrs.field(default="#1f6feb", validator=_validated(_color_problem))
    footer: str | None = None

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any], *, key: str = "mail.branding"
    ) -> MailBranding:
        """Read ``logo_url``, ``accent_color`` and ``footer`` (all optional).

        :raises ConfigurationError: naming the key of the first problem.
        """
        table = _table(mapping, key)
        _no_unknown_keys(table, ("logo_url", "accent_color", "footer"), key)
        logo_url = table.get("logo_url")
        _check(_optional(_url_problem)(logo_url), f"{key}.logo_url")
        accent_color = table.get("accent_color", "#1f6feb")
        _check(_color_problem(accent_color), f"{key}.accent_color")
        footer = table.get("footer")
        _check(_optional(_text_problem)(footer), f"{key}.footer")
        return cls(logo_url=logo_url, accent_color=accent_color, footer=footer)


@attrs.frozen
class MailTenant:
    """What mails need to know about a tenant: its name, where its pages are, who helps.

    :param id: The tenant's id (plugins are asked for template folders per tenant).
    :param display_name: The name people know the service by ("Acme Portal").
    :param base_url: Where the tenant's onboarding pages live; every link in a mail starts here.
    :param support_address: An address people may write to with questions (optional).
    :param timezone: The time zone expiry times are shown in (``Europe/Berlin``; default UTC).
    :param branding: Logo, accent colour and footer of the HTML mails.
    """

    id: str
    display_name: str
    base_url: str = attrs.field(validator=_validated(_base_url_problem))
    support_address: str | None = attrs.field(
        default=None, validator=_validated(_optional(_support_problem))
    )
    timezone: str = attrs.field(default="UTC", validator=_validated(_timezone_problem))
    branding: MailBranding = attrs.field(factory=MailBranding)

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any], *, tenant: str, key: str = "mail"
    ) -> MailTenant:
        """Read a tenant's mail settings from configuration (a TOML table or a dict).

        Keys: ``display_name`` and ``base_url`` (required), ``support_address``, ``timezone``
        and a ``branding`` table (see :meth:`MailBranding.from_mapping`).

        :raises ConfigurationError: naming the key of the first problem.
        """
        table = _table(mapping, key)
        _no_unknown_keys(
            table,
            ("display_name", "base_url", "support_address", "timezone", "branding"),
            key,
        )
        display_name = _checked_text(
            table.get("display_name"), _text_problem, f"{key}.display_name"
        )
        base_url = _checked_text(table.get("base_url"), _base_url_problem, f"{key}.base_url")
        support_address = table.get("support_address")
        _check(_optional(_support_problem)(support_address), f"{key}.support_address")
        zone = table.get("timezone", "UTC")
        _check(_timezone_problem(zone), f"{key}.timezone")
        branding = MailBranding.from_mapping(table.get("branding", {}), key=f"{key}.branding")
        return cls(
            id=tenant,
            display_name=display_name,
            base_url=base_url,
            support_address=support_address,
            timezone=zone,
            branding=branding,
        )

    def link(self, path: str, token: str | None = None) -> str:
        """An absolute link to ``path`` under the base URL, carrying ``token`` as a parameter.

        The path must be a plain absolute path of this site (``/onboarding/confirm``): no scheme,
        no host, no ``//`` and no backslash, so nothing a caller passes can point elsewhere.

        :raises ValueError: for any other path.
        """
        if (
            not path.startswith("/")
            or path.startswith("//")
            or "\\" in path
            or "#" in path
            or any(unicodedata.category(c) in _UNSAFE_CATEGORIES or c.isspace() for c in path)
        ):
            raise ValueError("a mail link path must be an absolute path of the site")
        link = self.base_url.rstrip("/") + path
        if token is not None:
            separator = "&" if "?" in path else "?"
            link += separator + "token=" + urllib.parse.quote(token, safe="")
        return link


# -- what one mail says ------------------------------------------------------------------------


def _fields(
    value: Mapping[str, object] | Iterable[tuple[str, object]],
) -> tuple[tuple[str, object], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(label), field_value) for label, field_value in items)


@attrs.frozen
class MailDetails:
    """The facts of one mail; each kind uses those it needs.

    :param recipient_name: How to greet the recipient (``None``: a greeting without a name).
    :param link_path: The page the mail links to, under the tenant's base URL.
    :param token: The signed token the link carries (required for confirmation, invitation and
        activation mails). It never appears anywhere but in the link.
    :param expires_at: When the link expires (seconds since the epoch), shown in the mail.
    :param reason: Why a registration was rejected (shown escaped).
    :param roles: The roles an approved account was given.
    :param inviter_name: Who sent an invitation.
    :param applicant_name: For the reviewer notice: the name of the person who registered.
    :param applicant_email: For the reviewer notice: their address.
    :param registration_fields: For the reviewer notice: the registration's field values by
        label, in the order to show them.
    :param extra: More values for a host's own templates, available as ``extra``.
    """

    recipient_name: str | None = None
    link_path: str | None = None
    token: str | None = attrs.field(default=None, repr=False)
    expires_at: float | None = None
    reason: str | None = None
    roles: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    inviter_name: str | None = None
    applicant_name: str | None = None
    applicant_email: str | None = None
    registration_fields: tuple[tuple[str, object], ...] = attrs.field(default=(), converter=_fields)
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)


@attrs.frozen
class RenderedMail:
    """A mail ready for the outbox: a one-line subject, a text body and an HTML body."""

    subject: str
    text: str = attrs.field(repr=False)
    html: str = attrs.field(repr=False)


# -- rendering ---------------------------------------------------------------------------------


def _translator(language: str) -> Any:
    def t(code: str, **params: object) -> str:
        text = _TEXTS_BY_CODE.get(code)
        if text is None:
            raise jinja2.UndefinedError(f"no mail text with the code {code!r}")
        return text.render(language, params)

    return t


def _display_value(language: str) -> Any:
    yes, no = _TEXTS_BY_CODE["mail.yes"], _TEXTS_BY_CODE["mail.no"]

    def display(value: object) -> str:
        if value is None or value == "":
            return "-"
        if isinstance(value, bool):
            return (yes if value else no).render(language)
        if isinstance(value, (list, tuple, set, frozenset)):
            return ", ".join(display(item) for item in value)
        return single_line(str(value), limit=1000)

    return display


_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy_text(text: str) -> str:
    # "-- " (with its space) is the signature separator mail programs recognize.
    lines = [line if line == "-- " else line.rstrip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


@functools.lru_cache(maxsize=64)
def _environments(folders: tuple[str, ...]) -> tuple[jinja2.Environment, jinja2.Environment]:
    """The text and HTML environments for one list of folders, shared by every renderer, so
    each template is compiled once per process (jinja2 still reloads a file that changed)."""
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(folder) for folder in folders])
    common: dict[str, Any] = {
        "loader": loader,
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
    }
    text = jinja2.Environment(autoescape=False, **common)  # noqa: S701  (plain text, see above)
    html = jinja2.Environment(autoescape=True, **common)
    return text, html


class MailRenderer:
    """Renders mails from the template folders (host, then plugins, then onboardkit's own).

    :param template_folders: The host's folders, searched first; each holds ``mail/...``.
    :param plugins: Asked for more folders per tenant (``onboardkit_template_folders``).
    """

    def __init__(
        self,
        template_folders: Sequence[str | os.PathLike[str]] = (),
        *,
        plugins: Plugins | None = None,
    ) -> None:
        self._host_folders = tuple(os.fspath(folder) for folder in template_folders)
        self._plugins = plugins

    def folders(self, tenant: str) -> tuple[str, ...]:
        """The template folders for ``tenant``, in the order they are searched."""
        plugin_folders = self._plugins.template_folders(tenant=tenant) if self._plugins else []
        return (
            *self._host_folders,
            *(os.fspath(folder) for folder in plugin_folders),
            os.fspath(DEFAULT_TEMPLATE_FOLDER),
        )

    def _environments_for(self, tenant: str) -> tuple[jinja2.Environment, jinja2.Environment]:
        return _environments(self.folders(tenant))

    def render(
        self,
        kind: MailKind | str,
        tenant: MailTenant,
        details: MailDetails | None = None,
        *,
        locale: str | None = None,
    ) -> RenderedMail:
        """Render the subject, text and HTML of one mail in ``locale`` (English by default).

        :raises ValueError: for a confirmation, invitation or activation mail without a token
            and link path, or for a link path that is not a plain path of the site.
        :raises jinja2.TemplateError: when a (host's) template is broken.
        """
        kind = MailKind(kind)
        details = details or MailDetails()
        if kind in _NEEDS_TOKEN and (details.token is None or details.link_path is None):
            raise ValueError(f"a {kind.value} mail needs a link path and a token")
        language = normalize_locale(locale)
        text_env, html_env = self._environments_for(tenant.id)
        context = self._context(kind, tenant, details, language)

        def names(extension: str) -> list[str]:
            return [f"mail/{language}/{kind.value}.{extension}", f"mail/{kind.value}.{extension}"]

        subject = single_line(text_env.select_template(names("subject")).render(context))
        context["subject"] = subject
        text = _tidy_text(text_env.select_template(names("txt")).render(context))
        html = html_env.select_template(names("html")).render(context)
        return RenderedMail(subject=subject, text=text, html=html)

    @staticmethod
    def _context(
        kind: MailKind, tenant: MailTenant, details: MailDetails, language: str
    ) -> dict[str, Any]:
        t = _translator(language)
        link = (
            tenant.link(details.link_path, details.token) if details.link_path is not None else None
        )
        expires = None
        expires_at = None
        if details.expires_at is not None:
            expires_at = datetime.fromtimestamp(details.expires_at, tz=_timezone(tenant.timezone))
            expires = t("mail.datetime", when=expires_at)
        # Names are shown on one line: a name with line breaks must not forge lines of a mail.
        recipient_name, inviter_name, applicant_name = (
            single_line(name, limit=200) if name else None
            for name in (details.recipient_name, details.inviter_name, details.applicant_name)
        )
        applicant = applicant_name or details.applicant_email
        return {
            "kind": kind.value,
            "language": language,
            "locale": language,
            "t": t,
            "display": _display_value(language),
            "oneline": single_line,
            "tenant": tenant,
            "branding": tenant.branding,
            "recipient_name": recipient_name,
            "link": link,
            "expires": expires,
            "expires_at": expires_at,
            "reason": details.reason,
            "roles": details.roles,
            "inviter_name": inviter_name,
            "applicant": applicant,
            "applicant_name": applicant_name,
            "applicant_email": details.applicant_email,
            "registration_fields": details.registration_fields,
            "extra": details.extra,
        }


class Mailer:
    """Renders a mail for a recipient and packs it as an outbox row.

    The flows call :meth:`compose` and hand the result to :func:`onboardkit.outbox.enqueue`
    inside their transaction, so the mail is sent exactly when the change it reports is committed.
    """

    def __init__(
        self, renderer: MailRenderer | None = None, *, clock: Clock = system_clock
    ) -> None:
        self.renderer = renderer or MailRenderer()
        self._clock = clock

    def compose(
        self,
        kind: MailKind | str,
        tenant: MailTenant,
        recipient: str,
        details: MailDetails | None = None,
        *,
        locale: str | None = None,
    ) -> OutboxMail:
        """Render the mail and wrap it for the outbox, due at once.

        :raises ValidationError: when ``recipient`` is not one plain address (a CR/LF, a comma,
            a display name).
        """
        check_recipient(recipient)
        kind = MailKind(kind)
        rendered = self.renderer.render(kind, tenant, details, locale=locale)
        now = self._clock()
        return OutboxMail(
            id=new_id(),
            tenant=tenant.id,
            kind=kind.value,
            recipient=recipient,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            created_at=now,
            next_attempt_at=now,
        )
