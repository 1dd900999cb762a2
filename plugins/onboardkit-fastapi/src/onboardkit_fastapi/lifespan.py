"""The service's life inside the app's: migrate at start-up, deliver mail, close at shutdown."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeAlias, TypeVar, overload

from starlette.concurrency import run_in_threadpool

from onboardkit.onboarding import Onboarding
from onboardkit.outbox import OutboxWorker

__all__ = ["Lifespan", "onboarding_lifespan"]

log = logging.getLogger(__name__)

State = TypeVar("State", bound=Mapping[str, Any] | None)
#: A Starlette/FastAPI lifespan: the app in, an async context manager out, whose value (a
#: mapping, or ``None``) becomes the requests' ``request.state``.
Lifespan: TypeAlias = Callable[[Any], AbstractAsyncContextManager[State]]


@overload
def onboarding_lifespan(
    onboarding: Onboarding,
    *,
    migrate: bool = ...,
    outbox: OutboxWorker | None = ...,
    idle_sleep: float = ...,
    stop_timeout: float = ...,
    lifespan: None = ...,
) -> Lifespan[None]: ...


@overload
def onboarding_lifespan(
    onboarding: Onboarding,
    *,
    migrate: bool = ...,
    outbox: OutboxWorker | None = ...,
    idle_sleep: float = ...,
    stop_timeout: float = ...,
    lifespan: Lifespan[State],
) -> Lifespan[State]: ...


def onboarding_lifespan(
    onboarding: Onboarding,
    *,
    migrate: bool = True,
    outbox: OutboxWorker | None = None,
    idle_sleep: float = 5.0,
    stop_timeout: float = 30.0,
    lifespan: Lifespan[Any] | None = None,
) -> Lifespan[Any]:
    """A lifespan for ``FastAPI(lifespan=...)`` that runs the onboarding service::

        app = FastAPI(lifespan=onboarding_lifespan(onboarding, outbox=worker, lifespan=own))

    At start-up the store is migrated (when it has ``migrate``, as ``SqlStore`` does; several
    processes may do so at once), then ``outbox`` starts delivering in a background thread
    (``OutboxWorker.run``, as ``onboardkit outbox deliver --loop`` does), then the app's own
    ``lifespan`` starts, and its state is the app's. At shutdown, in reverse: the app's lifespan
    ends, the worker finishes its round and stops, and the service is closed.

    :param migrate: Bring onboardkit's tables up to date at start-up.
    :param outbox: A worker (``onboardkit.settings.build_outbox_worker``) to run in this
        process; leave it out when a separate ``onboardkit outbox deliver --loop`` runs.
    :param idle_sleep: Seconds the worker waits when no mail was due.
    :param stop_timeout: Seconds to wait at shutdown for the worker's round to end.
    :param lifespan: The app's own lifespan, run inside this one.
    """

    @asynccontextmanager
    async def onboardkit_lifespan(app: Any) -> AsyncIterator[Any]:
        store_migrate = getattr(onboarding.store, "migrate", None)
        if migrate and callable(store_migrate):
            await run_in_threadpool(store_migrate)
        stop = threading.Event()
        worker: threading.Thread | None = None
        if outbox is not None:
            worker = threading.Thread(
                target=outbox.run,
                args=(stop, idle_sleep),
                name="onboardkit-outbox",
                daemon=True,  # a worker stuck in a mail server must not keep the process alive
            )
            worker.start()
        try:
            if lifespan is None:
                yield None
            else:
                async with lifespan(app) as state:
                    yield state
        finally:
            stop.set()
            if worker is not None:
                await run_in_threadpool(worker.join, stop_timeout)
                if worker.is_alive():
                    log.warning("the outbox worker did not stop within %s s", stop_timeout)
            onboarding.close()

    return onboardkit_lifespan
