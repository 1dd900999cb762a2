"""``manage.py onboardkit …``: onboardkit's operator commands on the project's service.

``python manage.py onboardkit pending``, ``… approve ID --role editor --reviewer ADDRESS``,
``… outbox deliver --loop``: every command of the ``onboardkit`` program (docs/cli.md), on the
store and tenants the app built. The tables are Django's to migrate (``python manage.py
migrate``); mail goes out through ``EMAIL_BACKEND`` unless the TOML file names a transport.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandParser

from onboardkit.cli import main
from onboardkit.deployment import Deployment
from onboardkit_django.mail import DjangoEmailTransport
from onboardkit_django.service import service


class Command(BaseCommand):
    help = (
        "Operate onboardkit: review registrations, invite, deliver mail, rotate keys "
        "(manage.py onboardkit --help lists the commands)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER)

    def handle(self, *args: str, **options: Any) -> None:
        built = service()
        deployment = Deployment(
            built.onboarding,
            settings=built.settings,
            transport=DjangoEmailTransport()
            if built.settings is None or built.settings.mail.transport is None
            else None,
            migrations=None,
            migrate_with="python manage.py migrate",
        )
        code = main(
            list(args),
            deployment=deployment,
            prog="manage.py onboardkit",
            # The streams under Django's wrappers, which would add a newline to every write.
            stdout=cast(TextIO, getattr(self.stdout, "_out", self.stdout)),
            stderr=cast(TextIO, getattr(self.stderr, "_out", self.stderr)),
        )
        if code:
            raise SystemExit(code)  # onboardkit printed the error; keep its exit code
