"""A URLconf without onboardkit's URLs (for the check that reports it)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
