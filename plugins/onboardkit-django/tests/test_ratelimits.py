"""The rate-limit counters in Django's cache pass onboardkit's backend contract."""

from __future__ import annotations

import pytest
from onboardkit_django.ratelimits import DjangoCacheRateLimitBackend

from onboardkit.testing.ratelimits import RateLimitBackendContract


class TestDjangoCacheRateLimitBackend(RateLimitBackendContract):
    @pytest.fixture
    def backend(self) -> DjangoCacheRateLimitBackend:
        return DjangoCacheRateLimitBackend()
