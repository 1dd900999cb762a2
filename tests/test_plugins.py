"""The plugin manager: built-ins as plugins, entry points, broken and blocked plugins."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pluggy
import pytest

import onboardkit
from onboardkit import hookimpl
from onboardkit.plugins import DISABLE_ENV, Plugins
from onboardkit.testing import make_plugins


def install_plugin(site: Path, name: str, source: str) -> None:
    """Put a real distribution with an ``onboardkit`` entry point into ``site``."""
    (site / f"{name}.py").write_text(textwrap.dedent(source))
    dist_info = site / f"{name}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[onboardkit]\n{name} = {name}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("okplugin_")]:
        del sys.modules[name]


GOOD_PLUGIN = """
    from onboardkit import hookimpl

    @hookimpl
    def onboardkit_resolve_partner_code(tenant, code):
        return None
"""


def test_hookimpl_is_importable_from_the_top_level():
    assert isinstance(onboardkit.hookimpl, pluggy.HookimplMarker)


def test_load_registers_the_builtin_plugins():
    plugins = Plugins.load(entry_points=False, environ={})
    assert "onboardkit.passwords" in plugins.names()


def test_load_discovers_plugins_through_the_entry_point_group(site):
    install_plugin(site, "okplugin_good", GOOD_PLUGIN)
    plugins = Plugins.load(environ={})
    assert plugins.is_registered("okplugin_good")
    assert plugins.failures == []


def test_a_plugin_that_fails_to_import_is_reported_and_the_host_keeps_running(site, caplog):
    install_plugin(site, "okplugin_broken", "raise RuntimeError('broken on purpose')\n")
    install_plugin(site, "okplugin_good", GOOD_PLUGIN)
    plugins = Plugins.load(environ={})
    assert [failure.name for failure in plugins.failures] == ["okplugin_broken"]
    assert "broken on purpose" in plugins.failures[0].error
    assert plugins.is_registered("okplugin_good")
    assert "okplugin_broken" in caplog.text


def test_a_plugin_implementing_an_unknown_hook_is_refused_and_reported(site):
    install_plugin(
        site,
        "okplugin_typo",
        """
        from onboardkit import hookimpl

        @hookimpl
        def onboardkit_resolve_partner_cod(tenant, code):
            return None
        """,
    )
    plugins = Plugins.load(environ={})
    assert not plugins.is_registered("okplugin_typo")
    assert [failure.name for failure in plugins.failures] == ["okplugin_typo"]


def test_a_plugin_with_arguments_its_spec_lacks_is_refused(site):
    install_plugin(
        site,
        "okplugin_badargs",
        """
        from onboardkit import hookimpl

        @hookimpl
        def onboardkit_resolve_partner_code(tenant, code, request):
            return None
        """,
    )
    plugins = Plugins.load(environ={})
    assert not plugins.is_registered("okplugin_badargs")
    assert plugins.failures[0].name == "okplugin_badargs"


def test_the_environment_variable_blocks_named_plugins(site):
    install_plugin(site, "okplugin_good", GOOD_PLUGIN)
    plugins = Plugins.load(environ={DISABLE_ENV: " okplugin_good , other"})
    assert not plugins.is_registered("okplugin_good")


def test_blocked_plugins_are_never_imported(site):
    install_plugin(site, "okplugin_broken", "raise RuntimeError('must not be imported')\n")
    plugins = Plugins.load(blocked=["okplugin_broken"], environ={})
    assert plugins.failures == []
    assert "okplugin_broken" not in sys.modules


def test_importing_onboardkit_loads_no_plugin(site):
    marker = site / "imported.txt"
    install_plugin(
        site,
        "okplugin_marker",
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\n",
    )
    code = (
        "import onboardkit, onboardkit.plugins, onboardkit.testing; "
        f"from pathlib import Path; assert not Path({str(marker)!r}).exists(); "
        "onboardkit.plugins.Plugins.load(); "
        f"assert Path({str(marker)!r}).exists()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(site) + ":" + ":".join(p for p in sys.path if p)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_make_plugins_registers_exactly_the_given_plugins(site):
    install_plugin(site, "okplugin_good", GOOD_PLUGIN)

    class Extra:
        @hookimpl
        def onboardkit_resolve_partner_code(self, tenant, code):
            return None

    plugins = make_plugins(Extra(), builtins=False)
    assert len(plugins.names()) == 1
    assert not plugins.is_registered("okplugin_good")


def test_register_refuses_an_object_with_an_unknown_hook_and_leaves_nothing_behind():
    class Typo:
        @hookimpl
        def onboardkit_no_such_hook(self):
            return None

    plugins = make_plugins(builtins=False)
    with pytest.raises(pluggy.PluginValidationError):
        plugins.register(Typo(), name="typo")
    assert not plugins.is_registered("typo")


def test_an_implementation_may_take_fewer_arguments_than_its_spec():
    seen = []

    class Fewer:
        @hookimpl
        def onboardkit_resolve_partner_code(self, code):
            seen.append(code)

    plugins = make_plugins(Fewer(), builtins=False)
    assert plugins.resolve_partner_code(tenant="t", code="ABC") is None
    assert seen == ["ABC"]


def test_collector_answers_come_in_registration_order():
    def rules(label):
        class Rules:
            @hookimpl
            def onboardkit_password_rules(self, tenant, policy):
                return [label]

        return Rules()

    plugins = make_plugins(rules("first"), rules("second"), builtins=False)
    assert plugins.password_rules(tenant="t", policy=None) == ["first", "second"]
