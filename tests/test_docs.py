"""The hooks reference documents every hook with the signature the code has."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from onboardkit import hookspecs

HOOKS_DOC = Path(__file__).parent.parent / "docs" / "hooks.md"
DOCUMENTED = re.compile(r"^```python\ndef (onboardkit_\w+)(\(.*\) -> .*)\n```$", re.MULTILINE)


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
