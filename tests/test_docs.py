"""The reference pages keep up with the code: the hooks reference documents every hook with the
signature the code has, and the API reference has a section for every module of the package."""

from __future__ import annotations

import inspect
import pkgutil
import re
from collections import Counter
from pathlib import Path

import pytest

import onboardkit
from onboardkit import hookspecs

DOCS = Path(__file__).parent.parent / "docs"
HOOKS_DOC = DOCS / "hooks.md"
API_DOCS = DOCS / "api"
DOCUMENTED = re.compile(r"^```python\ndef (onboardkit_\w+)(\(.*\) -> .*)\n```$", re.MULTILINE)
AUTOMODULE = re.compile(r"^\.\. automodule:: (\S+)$", re.MULTILINE)


def _specs() -> dict[str, object]:
    return {
        name: function
        for name, function in vars(hookspecs).items()
        if name.startswith("onboardkit_") and callable(function)
    }


def _documented() -> dict[str, str]:
    return dict(DOCUMENTED.findall(HOOKS_DOC.read_text()))


def _spec_signature(function) -> str:
    # The module uses postponed annotations, so inspect shows them as quoted strings.
    return str(inspect.signature(function)).replace("'", "")


def test_every_hookspec_is_documented():
    assert sorted(_specs()) == sorted(_documented())


@pytest.mark.parametrize("name", sorted(_specs()))
def test_each_documented_signature_matches_the_spec(name):
    assert _documented().get(name) == _spec_signature(_specs()[name])


@pytest.mark.parametrize("name", sorted(_specs()))
def test_firstresult_hooks_say_they_stop_at_the_first_answer(name):
    options = _specs()[name].onboardkit_spec
    section = HOOKS_DOC.read_text().split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
    assert ("stops at first non-none result" in section.lower()) == options["firstresult"]
    assert ("Stops at first non-None result" in (_specs()[name].__doc__ or "")) == options[
        "firstresult"
    ]


def test_every_hookspec_carries_the_project_prefix_and_a_docstring():
    for name, function in _specs().items():
        assert name.startswith("onboardkit_")
        assert (function.__doc__ or "").strip(), name


# -- the API reference (docs/api/, Sphinx autodoc) ------------------------------------------------


def _package_modules() -> list[str]:
    """Every module of the package a user can import; ``_private`` ones and ``__main__`` aside."""
    found = ["onboardkit"] + [
        module.name for module in pkgutil.walk_packages(onboardkit.__path__, "onboardkit.")
    ]
    return sorted(
        name for name in found if not any(part.startswith("_") for part in name.split("."))
    )


def _api_sections() -> Counter[str]:
    return Counter(
        name
        for page in sorted(API_DOCS.glob("*.md"))
        for name in AUTOMODULE.findall(page.read_text())
    )


def test_every_module_of_the_package_has_a_section_in_the_api_reference():
    missing = sorted(set(_package_modules()) - set(_api_sections()))
    assert missing == [], f"add an automodule section for each to a page under {API_DOCS}"


def test_the_api_reference_documents_no_module_the_package_no_longer_has():
    assert sorted(set(_api_sections()) - set(_package_modules())) == []


def test_the_api_reference_documents_each_module_once():
    assert [name for name, count in _api_sections().items() if count > 1] == []
