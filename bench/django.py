"""Registrations over HTTP in Django: the onboardkit Django plugin against django-allauth's signup.

One Django project (configured in this file) on one SQLite file database (``transaction_mode =
"IMMEDIATE"``, as the plugin's checks ask), driven by Django's test ``Client`` through the full
request stack (WSGI handler, the project's middleware: sessions, CSRF, authentication,
messages), in-process and sequential. The peers, in the same run and interleaved round by round
(the order rotates each round):

* ``onboardkit``: ``POST /pim/api/register`` (JSON) through ``onboardkit_django.urls`` on the
  plugin's Django ORM store (:class:`onboardkit_django.store.DjangoStore`) with the plugin's
  hooks (the project's ``AUTH_PASSWORD_VALIDATORS`` with the tenant's policy, the
  ``account_changed`` signal after commit), for the seed-000 tenant of
  ``bench/registration.py`` (custom fields, consents, double opt-in, review). 202 after the
  password checks, hashing, the account insert and the confirmation mail rendered into the
  outbox;
* ``allauth``: django-allauth's ``/accounts/signup/`` form (email, password twice) with
  mandatory email verification: the user row, the email address row, the confirmation mail
  rendered and handed to ``EMAIL_BACKEND`` (locmem), a 302 to "verify your address". Its rate
  limits are off, as onboardkit's are;
* ``noop``: a Django view that parses the same JSON body and answers 201: the floor of the
  stack.

Same hasher: Django's first ``PASSWORD_HASHERS`` entry is :class:`CheapDjangoHasher`, one salted
SHA-256, the same work as onboardkit's :class:`~onboardkit.testing.passwords.CheapTestHasher`
that the onboardkit peer uses. Both apply Django's four default password validators. Mail of
both is emptied between rounds (outside the timed requests), and after the run the number of
stored accounts must equal the registrations sent, so a broken peer cannot look fast.

The figure is CPU time of the process (``time.process_time``) per registration; the ratios are
taken within each round and then the median (``*_paired``), steady against a changing load.

Run: ``python bench/django.py [--rounds 15] [--per-round 40] [--quick]``. The last line is one
JSON object: per peer the medians over rounds of CPU and wall seconds per registration
(``<peer>_cpu_s``, ``<peer>_s``), ``allauth_over_onboardkit_cpu_paired`` (how many times the CPU
time of allauth's signup onboardkit's is: above 1 means onboardkit is cheaper),
``onboardkit_over_noop_cpu_paired`` and the 1-minute load average.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is called django.py: its folder must not shadow the real Django on the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]

import argparse  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import django  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import BasePasswordHasher  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402


def _registration_module() -> Any:
    spec = importlib.util.spec_from_file_location("registration", HERE / "registration.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["registration"] = module
    spec.loader.exec_module(module)
    return module


registration = _registration_module()  # seed 000, as measured there
PASSWORD: str = registration.PASSWORD
HOST = "pim.example.com"


class CheapDjangoHasher(BasePasswordHasher):
    """One salted SHA-256, like onboardkit's ``CheapTestHasher``. FOR BENCHMARKS ONLY."""

    algorithm = "bench_sha256"

    def salt(self) -> str:
        return secrets.token_hex(8)

    def encode(self, password: str, salt: str) -> str:
        digest = hashlib.sha256(salt.encode() + b"$" + password.encode()).hexdigest()
        return f"{self.algorithm}${salt}${digest}"

    def decode(self, encoded: str) -> dict[str, Any]:
        algorithm, salt, digest = encoded.split("$", 2)
        return {"algorithm": algorithm, "hash": digest, "salt": salt}

    def verify(self, password: str, encoded: str) -> bool:
        salt = self.decode(encoded)["salt"]
        return hmac.compare_digest(encoded, self.encode(password, salt))

    def safe_summary(self, encoded: str) -> dict[str, Any]:
        return {"algorithm": self.algorithm}


def noop(request: HttpRequest) -> JsonResponse:
    """The floor: parse the registration's JSON body, answer 201."""
    json.loads(request.body)
    return JsonResponse({"status": "ok"}, status=201)


def configure(database: Path) -> None:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="onboardkit Django benchmark: not a secret " + secrets.token_hex(8),
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF="__main__",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "allauth",
            "allauth.account",
            "onboardkit_django",
        ],
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "allauth.account.middleware.AccountMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(database),
                "OPTIONS": {"transaction_mode": "IMMEDIATE"},
            }
        },
        PASSWORD_HASHERS=["__main__.CheapDjangoHasher"],
        AUTH_PASSWORD_VALIDATORS=[
            {"NAME": f"django.contrib.auth.password_validation.{name}"}
            for name in (
                "UserAttributeSimilarityValidator",
                "MinimumLengthValidator",
                "CommonPasswordValidator",
                "NumericPasswordValidator",
            )
        ],
        AUTHENTICATION_BACKENDS=[
            "django.contrib.auth.backends.ModelBackend",
            "allauth.account.auth_backends.AuthenticationBackend",
        ],
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        ACCOUNT_LOGIN_METHODS={"email"},
        ACCOUNT_SIGNUP_FIELDS=["email*", "password1*", "password2*"],
        ACCOUNT_EMAIL_VERIFICATION="mandatory",
        ACCOUNT_RATE_LIMITS=False,
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )


urlpatterns: list[Any] = []


def _urls() -> None:
    from django.urls import include, path

    urlpatterns.extend(
        [
            path("noop", noop),
            path("accounts/", include("allauth.urls")),
            path("", include("onboardkit_django.urls")),
        ]
    )


class Peer:
    """One way to register, and its timings per round."""

    def __init__(
        self,
        name: str,
        send: Callable[[int], int],
        status: int,
        *,
        between_rounds: Callable[[], None],
        stored: Callable[[], int],
    ) -> None:
        self.name = name
        self._send = send
        self.status = status
        self._between_rounds = between_rounds
        self._stored = stored
        self._serial = 0
        self._before = stored()
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def register_once(self) -> None:
        self._serial += 1
        status = self._send(self._serial)
        if status != self.status:
            raise AssertionError(f"{self.name}: answered {status}, expected {self.status}")

    def run(self, count: int) -> tuple[float, float]:
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(count):
            self.register_once()
        wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
        return wall / count, cpu / count

    def run_round(self, count: int) -> None:
        self._between_rounds()
        gc.collect()
        gc.disable()
        try:
            wall, cpu = self.run(count)
        finally:
            gc.enable()
        self.wall.append(wall)
        self.cpu.append(cpu)

    def check_stored(self) -> None:
        made = self._stored() - self._before
        if made != self._serial:
            raise AssertionError(f"{self.name}: {self._serial} registrations, {made} stored")


def body(serial: int) -> dict[str, Any]:
    return {
        "email": f"anna.berg.{serial}.{secrets.token_hex(4)}@example.org",
        "password": PASSWORD,
        "given_name": "Anna",
        "family_name": "Berg",
        "fields": {"customer_number": "123456", "employee_number": "77"},
        "consents": {"privacy": True},
    }


def peers() -> list[Peer]:
    from django.contrib.auth import get_user_model
    from django.core import mail
    from django.test import Client
    from onboardkit_django.conf import PluginSettings
    from onboardkit_django.hooks import DjangoHooks
    from onboardkit_django.models import AccountRow, OutboxMailRow
    from onboardkit_django.service import Service, install
    from onboardkit_django.store import DjangoStore

    from onboardkit.onboarding import Onboarding
    from onboardkit.testing import make_plugins
    from onboardkit.testing.passwords import CheapTestHasher
    from onboardkit.web import OnboardingWeb

    plugins = make_plugins()
    hooks = DjangoHooks()
    plugins.register(hooks, name="onboardkit_django")
    onboarding = Onboarding(
        registration.TENANTS,
        DjangoStore(),
        secret=registration.SECRET,
        plugins=plugins,
        hasher=CheapTestHasher(),
        limiter=None,
    )
    web = OnboardingWeb(onboarding, secret=registration.SECRET, sessions="host")
    built = Service.for_web(web, PluginSettings(sessions="host"))
    hooks.service = built
    install(built)
    users = get_user_model()

    def client() -> Client:
        return Client(HTTP_HOST=HOST)

    onboardkit_client, allauth_client, noop_client = client(), client(), client()

    def onboardkit_register(serial: int) -> int:
        answer = onboardkit_client.post(
            f"/{registration.TENANT}/api/register",
            json.dumps(body(serial)),
            content_type="application/json",
            secure=True,
        )
        return int(answer.status_code)

    def allauth_register(serial: int) -> int:
        data = body(serial)
        answer = allauth_client.post(
            "/accounts/signup/",
            {"email": data["email"], "password1": PASSWORD, "password2": PASSWORD},
            secure=True,
        )
        return int(answer.status_code)

    def noop_register(serial: int) -> int:
        answer = noop_client.post(
            "/noop", json.dumps(body(serial)), content_type="application/json", secure=True
        )
        return int(answer.status_code)

    def empty_outbox() -> None:
        OutboxMailRow.objects.all().delete()

    def empty_mailbox() -> None:
        mail.outbox = []
        # allauth signs nobody in before verification; a fresh client keeps no session either.

    return [
        Peer(
            "onboardkit",
            onboardkit_register,
            202,
            between_rounds=empty_outbox,
            stored=lambda: AccountRow.objects.count(),
        ),
        Peer(
            "allauth",
            allauth_register,
            302,
            between_rounds=empty_mailbox,
            stored=lambda: users.objects.count(),
        ),
        Peer("noop", noop_register, 201, between_rounds=lambda: None, stored=lambda: 0),
    ]


def _paired(numerator: list[float], denominator: list[float]) -> float:
    return round(statistics.median(a / b for a, b in zip(numerator, denominator, strict=True)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=40, help="registrations per round")
    parser.add_argument("--warm-up", type=int, default=20, help="untimed registrations per peer")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 rounds of 10")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.per_round, options.warm_up = 3, 10, 5

    with tempfile.TemporaryDirectory(prefix="onboardkit-bench-django-") as folder:
        configure(Path(folder) / "bench.sqlite3")
        django.setup()
        _urls()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        racers = peers()
        noop_name = len(racers) - 1
        for peer in racers:
            peer.run(options.warm_up)
        for round_number in range(options.rounds):
            shift = round_number % len(racers)
            for peer in racers[shift:] + racers[:shift]:
                peer.run_round(options.per_round)
        for peer in racers[:noop_name]:
            peer.check_stored()

    print(
        f"one registration through Django's test Client (full middleware stack), sequential,"
        f" SQLite file: median over {options.rounds} rounds of {options.per_round}"
    )
    print(f"  {'':12}{'cpu us':>9}{'wall us':>9}{'reg/s':>9}")
    result: dict[str, Any] = {}
    by_name = {peer.name: peer for peer in racers}
    for peer in racers:
        cpu, wall = statistics.median(peer.cpu), statistics.median(peer.wall)
        print(f"  {peer.name:12}{cpu * 1e6:9.0f}{wall * 1e6:9.0f}{1 / wall:9.0f}")
        result[f"{peer.name}_cpu_s"] = round(cpu, 7)
        result[f"{peer.name}_s"] = round(wall, 7)
        result[f"{peer.name}_per_s"] = round(1 / wall, 1)
    ours, allauth, floor = by_name["onboardkit"], by_name["allauth"], by_name["noop"]
    result["allauth_over_onboardkit_cpu_paired"] = _paired(allauth.cpu, ours.cpu)
    result["onboardkit_over_noop_cpu_paired"] = _paired(ours.cpu, floor.cpu)
    result["allauth_over_noop_cpu_paired"] = _paired(allauth.cpu, floor.cpu)
    result["rounds"] = options.rounds
    result["per_round"] = options.per_round
    result["django"] = django.get_version()
    result["load_1min"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
