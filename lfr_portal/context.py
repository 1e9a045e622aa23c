"""Per-request context (request id, actor) that the audit log reads without threading it through every call."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_request_id: ContextVar[str | None] = ContextVar("lfr_request_id", default=None)
_actor: ContextVar[Any] = ContextVar("lfr_actor", default=None)


def current_request_id() -> str:
    """The id of the request (or task) being served; a fresh one outside any request."""
    rid = _request_id.get()
    if rid is None:
        rid = uuid.uuid4().hex
        _request_id.set(rid)
    return rid


def current_actor() -> Any:
    """The authenticated user (or camera unit) of the current request, if any."""
    return _actor.get()


@contextlib.contextmanager
def request_context(*, request_id: str | None = None, actor: Any = None) -> Iterator[None]:
    """Bind a request id and actor for the duration of a block (used by middleware and Celery tasks)."""
    t1 = _request_id.set(request_id or uuid.uuid4().hex)
    t2 = _actor.set(actor)
    try:
        yield
    finally:
        _request_id.reset(t1)
        _actor.reset(t2)


def set_actor(actor: Any) -> None:
    _actor.set(actor)
