"""Sphinx configuration for the onboardkit documentation."""

from __future__ import annotations

project = "onboardkit"
author = "onboardkit maintainers"
copyright = "2026, onboardkit maintainers"

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "alabaster"

# The API reference (docs/api/) is generated from the docstrings, which use reST field lists
# (``:param x:``), so no napoleon. Members appear in the order of the source, where related
# things stand together.
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
# Off: without intersphinx (the build must not need the network) references to the standard
# library and to third-party types cannot resolve, and some docstrings name a class by a short
# name from another module; both render as plain code instead of failing the build.
nitpicky = False
# onboardkit.transports.Transport (mail) and onboardkit.testing.Transport (a test browser's way
# to the app) share a short name; signatures that name one by it stay plain text, not an error.
suppress_warnings = ["ref.python"]
