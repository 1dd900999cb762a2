"""onboardkit: user onboarding for Python web apps.

Importing this package loads no plugin and touches no database; see
:class:`onboardkit.plugins.Plugins`.
"""

from onboardkit.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]

__version__ = "0.1.0.dev0"
