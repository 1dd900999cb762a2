"""``flask onboardkit ...``: onboardkit's operator commands on the app's own service.

The command takes its arguments unprocessed and hands them to :func:`onboardkit.cli.main` with
the app's :class:`~onboardkit.deployment.Deployment`, so ``flask onboardkit pending`` reviews the
registrations the app's pages show, ``flask onboardkit outbox deliver`` sends with the app's mail
transport, and ``flask onboardkit db upgrade`` (or ``migrate``) migrates onboardkit's tables.
``flask onboardkit --help`` is onboardkit's help. Commands on ``app.cli`` run inside the
application context, so the app's extensions (Flask-Mailman, Flask-SQLAlchemy) work there.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from onboardkit.cli import main
from onboardkit.deployment import Deployment

__all__ = ["deployment", "onboardkit_command"]


def deployment() -> Deployment:
    """The current app's deployment: its service, settings and mail transport."""
    state = current_app.extensions["onboardkit"].state()
    return Deployment(state.onboarding, settings=state.settings, transport=state.transport)


@click.command(
    "onboardkit",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@with_appcontext
def onboardkit_command(args: tuple[str, ...]) -> None:
    """Operate onboardkit: review, invite, deliver mail, migrate (flask onboardkit --help)."""
    raise click.exceptions.Exit(main(list(args), deployment=deployment(), prog="flask onboardkit"))
