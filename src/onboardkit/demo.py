"""The demo portal: three tenants shaped like the three seed systems, on a local SQLite file.

:func:`prepare_demo` builds everything a framework plugin needs to serve the demo: the settings
(a SQLite database and a generated secret key in a local folder), the onboarding service, the web
layer with the "sent mail" page (the demo sends no real mail), a reviewer account per reviewed
tenant and one partner code. The framework plugins only add their server around it, for example
``python -m onboardkit_fastapi.demo``.

Nothing here is for production: the secret key is a file next to the database, the reviewers'
passwords are written to that folder, and the mail page shows every mailed link.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import attrs

from onboardkit.errors import ValidationError
from onboardkit.onboarding import Onboarding
from onboardkit.settings import Settings, build_onboarding

__all__ = ["Demo", "DemoLogin", "demo_settings", "demo_tenants", "prepare_demo", "seed_demo"]

_STATE_FILE = "demo-accounts.json"


def _document(title: str, label: str, text: str, de: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "en": {"title": title, "label": label, "text": text},
        "de": {"title": de[0], "label": de[1], "text": de[2]},
    }


def demo_tenants(base_url: str) -> dict[str, Any]:
    """The three demo tenants (the ``tenants`` table of the settings), linked under ``base_url``.

    - ``pim``: a PIM/DAM portal, self-registration with customer and employee number, double
      opt-in and review that assigns roles (seed 000).
    - ``collaboration``: an insurance collaboration portal, invitations and the composition
      password profile (seed 001).
    - ``iot``: an IoT platform, email-first sign-up as customer or partner (seed 002).
    """
    base = base_url.rstrip("/")
    privacy_de = (
        "Datenschutzerklärung",
        "Ich habe die Datenschutzerklärung gelesen und stimme ihr zu.",
        "Wir verarbeiten Ihre Registrierungsdaten, um Ihren Zugang zu prüfen und das Portal "
        "zu betreiben.",
    )
    return {
        "pim": {
            "name": "PIM Portal",
            "base_url": f"{base}/pim",
            "sender": "no-reply@pim.example.com",
            "flows": ["registration"],
            "roles": ["viewer", "editor", "publisher"],
            "user_types": {
                "customer": {"permissions": ["assets.read"]},
                "employee": {"permissions": ["assets.read", "assets.write"]},
            },
            "review": {"required": True, "reviewers": ["review@pim.example.com"]},
            "branding": {
                "display_name": "PIM Portal",
                "support_email": "support@pim.example.com",
                "primary_color": "#0b5fff",
            },
            "fields": {
                "customer_number": {
                    "type": "text",
                    "required": True,
                    "label": {"en": "Customer number", "de": "Kundennummer"},
                    "help": {
                        "en": "Seven digits, see your invoice.",
                        "de": "Sieben Ziffern, siehe Ihre Rechnung.",
                    },
                    "pattern": "[0-9]{7}",
                    "normalize": ["nfkc", "remove_whitespace"],
                    "max_length": 7,
                },
                "employee_number": {
                    "type": "integer",
                    "label": {"en": "Employee number", "de": "Personalnummer"},
                    "min_value": 1000,
                    "max_value": 99999,
                },
            },
            "consent": {
                "purposes": {
                    "privacy": {
                        "required": True,
                        "versions": [
                            {
                                "version": "2024-05",
                                "locales": _document(
                                    "Privacy policy",
                                    "I have read the privacy policy and agree to it.",
                                    "We process your registration data to review your access "
                                    "and to run the portal.",
                                    privacy_de,
                                ),
                            }
                        ],
                    }
                }
            },
        },
        "collaboration": {
            "name": "collaboration",
            "base_url": f"{base}/collaboration",
            "sender": "no-reply@collaboration.example.de",
            "default_locale": "de",
            "flows": ["invitation"],
            "roles": ["policyholder", "broker"],
            "review": {"reviewers": ["admin@collaboration.example.de"]},
            "branding": {
                "display_name": "collaboration",
                "support_email": "support@collaboration.example.de",
                "primary_color": "#7a1f5c",
            },
            "passwords": {"profile": "composition"},
            "consent": {
                "purposes": {
                    "terms": {
                        "required": True,
                        "versions": [
                            {
                                "version": "2024-04",
                                "locales": _document(
                                    "Terms of use",
                                    "I accept the terms of use.",
                                    "The collaboration portal serves to exchange documents "
                                    "between you and your broker.",
                                    (
                                        "Nutzungsbedingungen",
                                        "Ich akzeptiere die Nutzungsbedingungen.",
                                        "Das Collaboration-Portal dient dem Austausch von "
                                        "Dokumenten zwischen Ihnen und Ihrem Vermittler.",
                                    ),
                                ),
                            }
                        ],
                    }
                }
            },
        },
        "iot": {
            "name": "IoT Platform",
            "base_url": f"{base}/iot",
            "sender": "no-reply@iot.example.com",
            "flows": ["signup", "invitation"],
            "roles": ["member", "admin"],
            "default_user_type": "customer_admin",
            "partner_user_type": "partner_user",
            "user_types": {
                "customer_admin": {
                    "permissions": ["customer_account_admin", "devices.read", "devices.write"]
                },
                "customer_user": {"permissions": ["devices.read"]},
                "partner_user": {"permissions": ["devices.read", "partner.portal"]},
            },
            "partners": {"enabled": True},
            "branding": {
                "display_name": "IoT Platform",
                "support_email": "help@iot.example.com",
                "primary_color": "#00a86b",
            },
            "consent": {
                "purposes": {
                    "terms": {
                        "required": True,
                        "versions": [
                            {
                                "version": "3",
                                "locales": _document(
                                    "Terms of Service",
                                    "I accept the Terms of Service.",
                                    "The platform connects your devices. Your organization is "
                                    "responsible for its users.",
                                    (
                                        "Nutzungsbedingungen",
                                        "Ich akzeptiere die Nutzungsbedingungen.",
                                        "Die Plattform verbindet Ihre Geräte. Ihre Organisation "
                                        "ist für ihre Benutzer verantwortlich.",
                                    ),
                                ),
                            }
                        ],
                    },
                    "privacy": {
                        "required": True,
                        "versions": [
                            {
                                "version": "3",
                                "locales": _document(
                                    "Privacy Policy",
                                    "I have read the Privacy Policy.",
                                    "We process account and device data to provide the platform.",
                                    (
                                        "Datenschutzerklärung",
                                        "Ich habe die Datenschutzerklärung gelesen.",
                                        "Wir verarbeiten Konto- und Gerätedaten, um die Plattform "
                                        "bereitzustellen.",
                                    ),
                                ),
                            }
                        ],
                    },
                    "newsletter": {
                        "required": False,
                        "versions": [
                            {
                                "version": "1",
                                "locales": _document(
                                    "Product news",
                                    "Send me product news now and then.",
                                    "About one mail a month on new features. Unsubscribe at "
                                    "any time.",
                                    (
                                        "Produktneuigkeiten",
                                        "Schicken Sie mir ab und zu Produktneuigkeiten.",
                                        "Etwa eine Mail im Monat zu neuen Funktionen. Abbestellen "
                                        "jederzeit möglich.",
                                    ),
                                ),
                            }
                        ],
                    },
                }
            },
        },
    }


@attrs.frozen
class DemoLogin:
    """A reviewer (or administrator) account the demo created, with its password."""

    tenant: str
    email: str
    password: str


@attrs.frozen
class Demo:
    """What :func:`prepare_demo` made: the service, the web layer and what to print."""

    onboarding: Onboarding
    web: Any  # onboardkit.web.OnboardingWeb (imported lazily: the core does not need it)
    base_url: str
    folder: Path
    logins: tuple[DemoLogin, ...]
    partner_code: str

    def banner(self) -> str:
        """The lines a demo prints at start: where to go and how to sign in."""
        lines = [
            "onboardkit demo",
            f"  open          {self.base_url}/",
            f"  sent mail     {self.base_url}/mail",
        ]
        for tenant in self.onboarding.tenants.values():
            lines.append(f"  {tenant.id:<14}{tenant.base_url}/login")
        for login in self.logins:
            lines.append(f"  reviewer      {login.tenant}: {login.email} / {login.password}")
        lines.append(f"  partner code for iot: {self.partner_code}")
        lines.append(f"  data          {self.folder}")
        return "\n".join(lines)


def _password() -> str:
    # Four random words' worth of entropy in a shape every demo policy accepts (composition
    # needs an upper-case letter, a digit and a special character).
    return f"{secrets.token_urlsafe(12)}-Q7!"


def demo_settings(folder: Path, base_url: str) -> Settings:
    """The demo's settings in ``folder`` (made if missing): its SQLite file, a secret key made
    on the first start, and the three tenants with pages at ``base_url``."""
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "secret.key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return Settings.from_mapping(
        {
            "database_url": f"sqlite:///{folder / 'onboardkit-demo.sqlite3'}",
            "secret_key_file": str(key_file),
            "tenants": demo_tenants(base_url),
        },
        environ={},
    )


def seed_demo(onboarding: Onboarding, folder: Path) -> tuple[tuple[DemoLogin, ...], str]:
    """The demo's reviewer accounts and its partner code for iot, made on the first start and
    kept in ``folder`` (on any store: the Django demo seeds its ORM store with this too)."""
    state_file = folder / _STATE_FILE
    state: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
    logins: list[DemoLogin] = []
    for tenant in onboarding.tenants.values():
        for address in tenant.reviewers:
            key = f"{tenant.id}:{address}"
            password = state.get(key)
            if password is None:
                password = _password()
                try:
                    onboarding.create_account(
                        tenant.id,
                        address,
                        password,
                        roles=tenant.roles[-1:],
                        created_by="onboardkit demo",
                    )
                except ValidationError as error:
                    if error.codes != ["account.exists"]:
                        raise
                    continue  # the database outlived the state file: leave that account be
                state[key] = password
            logins.append(DemoLogin(tenant.id, address, password))
    code = state.get("partner_code:iot")
    if code is None:
        _, code = onboarding.partner_registry.create("iot", "Demo Partner GmbH", {"country": "DE"})
        state["partner_code:iot"] = code
    state_file.write_text(json.dumps(state, indent=2))
    state_file.chmod(0o600)
    return tuple(logins), str(code)


def prepare_demo(folder: str | os.PathLike[str], base_url: str) -> Demo:
    """Build (or reopen) the demo in ``folder`` for pages served at ``base_url``.

    The first start creates the SQLite database, a secret key, the reviewer accounts and the
    partner code; later starts reuse them (they are kept in ``folder``).
    """
    from onboardkit.web import OnboardingWeb

    root = Path(folder).resolve()
    settings = demo_settings(root, base_url)
    onboarding = build_onboarding(settings)
    logins, code = seed_demo(onboarding, root)
    web = OnboardingWeb(onboarding, secret=settings.secret_key, show_outbox=True, list_tenants=True)
    return Demo(
        onboarding=onboarding,
        web=web,
        base_url=base_url.rstrip("/"),
        folder=root,
        logins=logins,
        partner_code=code,
    )
