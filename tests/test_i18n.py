"""Languages: every registered message has a German text; compiled catalogs match their sources."""

from __future__ import annotations

import importlib
import pkgutil
import string
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import onboardkit
from onboardkit.errors import registered_messages
from onboardkit.i18n import LOCALE_DIR, normalize_locale, translate

PO_FILES = sorted((LOCALE_DIR / "de" / "LC_MESSAGES").glob("*.po"))


def _import_everything() -> None:
    for module in pkgutil.walk_packages(onboardkit.__path__, "onboardkit."):
        importlib.import_module(module.name)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _text(value: str | bytes | None) -> str | None:
    # babel's read_mo hands back contexts as bytes
    return value.decode() if isinstance(value, bytes) else value


def _entries(catalog) -> dict[tuple[str | None, str | None], str | None]:
    return {(_text(m.context), _text(m.id)): _text(m.string) for m in catalog if m.id}


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("de", "de"),
        ("de-DE", "de"),
        ("de_AT.UTF-8", "de"),
        ("DE", "de"),
        ("en-GB", "en"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_locale_tags_map_to_a_supported_language(tag, expected):
    assert normalize_locale(tag) == expected


def test_every_registered_message_has_a_german_text_with_the_same_placeholders():
    _import_everything()
    missing, mismatched = [], []
    for code, msg in registered_messages().items():
        if code.startswith("test."):
            continue
        german = translate(msg.template, context=code, locale="de")
        # A template of placeholders only (a host's own text) has no words to translate.
        wordless = not "".join(t for t, *_ in string.Formatter().parse(msg.template)).strip()
        if german == msg.template and not wordless:
            missing.append(code)
        elif _placeholders(german) != _placeholders(msg.template):
            mismatched.append(code)
    assert missing == []
    assert mismatched == []


def test_no_catalog_keeps_a_text_the_code_no_longer_declares():
    _import_everything()
    declared = {(code, msg.template) for code, msg in registered_messages().items()}
    stale = []
    for po_file in PO_FILES:
        with po_file.open("rb") as handle:
            stale += [key for key in _entries(read_po(handle)) if key not in declared]
    assert stale == []


@pytest.mark.parametrize("po_file", PO_FILES, ids=lambda path: path.name)
def test_each_compiled_catalog_matches_its_source(po_file: Path):
    with po_file.open("rb") as handle:
        source = _entries(read_po(handle))
    with po_file.with_suffix(".mo").open("rb") as handle:
        compiled = _entries(read_mo(handle))
    assert compiled == source, f"run: pybabel compile -d src/onboardkit/locale -D {po_file.stem}"
