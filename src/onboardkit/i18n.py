"""Languages: every user-facing text exists in English and German.

English is the source language and lives in the code, next to the stable code that names the text
(see :func:`onboardkit.errors.message`). German comes from gettext catalogs under
``onboardkit/locale/de/LC_MESSAGES/``, one domain per building block (``passwords.po``,
``tokens.po``, ...), so translators work with ordinary ``.po`` files. Each text is looked up by its
code as gettext *context* and its English template as *msgid*.

Rebuild the compiled ``.mo`` files after editing a ``.po`` file::

    pybabel compile --use-fuzzy -d src/onboardkit/locale -D <domain>

A test fails when a ``.mo`` file is older in content than its ``.po`` file, or when a registered
message has no German translation.
"""

from __future__ import annotations

import functools
import gettext
from pathlib import Path

__all__ = ["DEFAULT_LOCALE", "LOCALE_DIR", "SUPPORTED_LOCALES", "normalize_locale", "translate"]

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES = ("en", "de")


def normalize_locale(locale: str | None) -> str:
    """Map a locale tag to a supported language, falling back to English.

    Accepts the usual spellings: ``de``, ``de-DE``, ``de_AT.UTF-8``, ``DE``. Anything unknown or
    empty becomes ``en``.
    """
    if not locale:
        return DEFAULT_LOCALE
    language = locale.strip().replace("_", "-").split("-", 1)[0].split(".", 1)[0].lower()
    return language if language in SUPPORTED_LOCALES else DEFAULT_LOCALE


@functools.cache
def _catalog(language: str) -> gettext.NullTranslations:
    """All compiled domains of ``language``, chained into one lookup."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    catalog: gettext.NullTranslations = gettext.NullTranslations()
    for mo_file in sorted(folder.glob("*.mo")) if folder.is_dir() else ():
        with mo_file.open("rb") as handle:
            domain = gettext.GNUTranslations(handle)
        domain.add_fallback(catalog)
        catalog = domain
    return catalog


def translate(msgid: str, *, context: str, locale: str | None) -> str:
    """The text ``msgid`` (English) with gettext context ``context``, in ``locale``.

    Untranslated texts come back in English, never as an error.
    """
    language = normalize_locale(locale)
    if language == DEFAULT_LOCALE:
        return msgid
    return _catalog(language).pgettext(context, msgid)


def reload_catalogs() -> None:
    """Forget loaded catalogs (after compiling new ``.mo`` files in a running process)."""
    _catalog.cache_clear()
