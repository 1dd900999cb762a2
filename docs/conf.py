"""Sphinx configuration for the onboardkit documentation."""

from __future__ import annotations

project = "onboardkit"
author = "onboardkit maintainers"
copyright = "2026, onboardkit maintainers"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "alabaster"
