"""onboardkit-fastapi: onboardkit's onboarding pages and JSON API in a FastAPI application.

::

    from fastapi import FastAPI
    from onboardkit.web import OnboardingWeb
    from onboardkit_fastapi import onboarding_router

    web = OnboardingWeb(onboarding, secret=secret)
    app = FastAPI()
    app.include_router(onboarding_router(web), prefix="/onboarding")

The router only translates: onboardkit decides every answer, in a worker thread.
"""

from __future__ import annotations

from onboardkit_fastapi.router import (
    ERROR_SCHEMA_NAME,
    ReviewerHook,
    onboarding_dependency,
    onboarding_router,
)

__all__ = ["ERROR_SCHEMA_NAME", "ReviewerHook", "onboarding_dependency", "onboarding_router"]

__version__ = "0.1.0.dev0"
