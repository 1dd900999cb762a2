"""The onboarding service: every flow of every tenant, over one store."""

from __future__ import annotations

from onboardkit.onboarding.administration import Administration
from onboardkit.onboarding.consents import ConsentSupport
from onboardkit.onboarding.invitation import InvitationFlow
from onboardkit.onboarding.login import LoginSupport
from onboardkit.onboarding.registration import RegistrationFlow
from onboardkit.onboarding.signup import SignupFlow

__all__ = ["Onboarding"]


class Onboarding(
    RegistrationFlow, InvitationFlow, SignupFlow, LoginSupport, ConsentSupport, Administration
):
    """Every onboarding flow of every tenant, over one store.

    :param tenants: The tenants' configuration.
    :param store: Where accounts, consent records, mail and keys live.
    :param secret: At least 32 random bytes, stable across restarts and equal in every process;
        the consent ledger's and the partner registry's keys are derived from it (HKDF).
    :param plugins: The plugin manager; by default the built-ins and installed plugins.
    :param hasher: Password hashing; Argon2id at OWASP's parameters by default.
    :param mailer: Renders mail for the outbox; by default onboardkit's templates and plugins'.
    :param limiter: Rate limits; ``None`` switches them off (only for tests and demos: a real
        deployment builds one with :func:`onboardkit.settings.build_onboarding`).
    :param partner_codes: Partner-code resolution; by default through ``plugins`` with the
        built-in registry, in a worker pool this service owns (see the next three options).
    :param partner_timeout: Seconds a partner-code resolution may take before it fails closed.
    :param partner_workers: Resolutions that may run at once.
    :param reject_mistyped_partner_codes: Refuse a code shaped like a registry code whose check
        symbol fails before asking any provider (turn off when providers' codes look alike).
    :param clock: The time source.
    :param key_refresh: Seconds between reloads of the signing keys from the store, so a
        rotation reaches running processes.
    :param paths: The pages mailed links lead to.
    """
