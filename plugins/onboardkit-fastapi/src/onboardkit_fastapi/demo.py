"""The onboardkit demo portal on FastAPI and uvicorn::

    python -m onboardkit_fastapi.demo [--host 127.0.0.1] [--port 8000] [--folder onboardkit-demo]

Everything it serves comes from :func:`onboardkit.demo.prepare_demo`: three tenants shaped like
the three seed systems on a SQLite file in ``--folder``, a page listing the mail the demo "sent",
a reviewer login per reviewed tenant and a partner code (all printed at start).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from fastapi import FastAPI

from onboardkit.demo import Demo, prepare_demo
from onboardkit_fastapi.lifespan import onboarding_lifespan
from onboardkit_fastapi.router import onboarding_router

__all__ = ["demo_app", "main"]


def demo_app(demo: Demo) -> FastAPI:
    """A FastAPI application serving ``demo`` at its root; it closes the service on shutdown."""
    # prepare_demo has migrated the store already.
    lifespan = onboarding_lifespan(demo.onboarding, migrate=False)
    app = FastAPI(title="onboardkit demo", lifespan=lifespan)
    app.include_router(onboarding_router(demo.web))
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m onboardkit_fastapi.demo", description="Run the onboardkit demo portal."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--folder", default="onboardkit-demo", help="where the demo keeps its database"
    )
    options = parser.parse_args(argv)
    try:
        import uvicorn
    except ImportError:
        parser.exit(2, "The demo needs uvicorn: pip install 'onboardkit-fastapi[demo]'\n")
    # Mailed links must open in a browser on this machine: name the host it can reach.
    everywhere = ("127.0.0.1", "0.0.0.0", "::")  # noqa: S104 - compared, not bound
    shown_host = "localhost" if options.host in everywhere else options.host
    demo = prepare_demo(options.folder, f"http://{shown_host}:{options.port}")
    print(demo.banner(), flush=True)
    uvicorn.run(demo_app(demo), host=options.host, port=options.port, log_level="warning")


if __name__ == "__main__":
    main()
