"""The app installs under its label and every database alias is usable."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connections


def test_the_app_label_is_onboardkit() -> None:
    config = apps.get_app_config("onboardkit")
    assert config.name == "onboardkit_django"


@pytest.mark.django_db(databases="__all__")
def test_each_database_alias_answers(database: str) -> None:
    with connections[database].cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    # This run's own database, never one another run uses.
    assert settings.RUN in connections[database].settings_dict["NAME"]
