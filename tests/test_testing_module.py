"""The public onboardkit.testing module: everything it names resolves, and importing it is cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import onboardkit.testing


@pytest.mark.parametrize("name", onboardkit.testing.__all__)
def test_every_public_name_resolves(name):
    assert getattr(onboardkit.testing, name) is not None


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        _ = onboardkit.testing.no_such_helper


def test_importing_it_pulls_in_no_test_only_package():
    code = "import sys, onboardkit.testing; assert 'aiosmtpd' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_frozen_clock_moves_only_when_told():
    clock = onboardkit.testing.FrozenClock(now=100.0)
    assert clock() == 100.0
    clock.advance(2.5)
    assert clock() == 102.5
