"""The registry of job kinds: ``kind`` → the function that does the work.

A handler is a module-level function ``handler(ctx, params) -> dict | None`` whose return
value becomes the job's result. The registry stores each handler as an import path
(``"package.module:function"``) so that a worker on another host, or a fresh job process,
finds it by importing — which is also why kinds come only from this registry and never
from a request.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from mlharbor.errors import InvalidInputError

# A leaf of the job system: the store checks kinds here, so nothing here imports the store or
# the job context (whose type, ``Handler``, lives in :mod:`mlharbor.jobs.context`).
H = TypeVar("H", bound=Callable[..., Any])
#: The longest job kind: the width of the ``kind`` column of the jobs table.
KIND_MAX = 32

# The diagnostic kinds of the job system itself. The kinds that do user work are registered
# by the layer that submits them (``mlharbor.hub``): this layer knows no kind by name.
DEFAULT_HANDLERS: dict[str, str] = {
    "noop": "mlharbor.jobs.builtin:noop",
    "sleep": "mlharbor.jobs.builtin:sleep",
    "demo_cv": "mlharbor.jobs.builtin:demo_cv",
}

_registry: dict[str, str] = dict(DEFAULT_HANDLERS)


def import_path(fn: Callable[..., Any]) -> str:
    """The ``module:qualname`` a worker process can import ``fn`` from."""
    qualname = getattr(fn, "__qualname__", "")
    if "<" in qualname or not getattr(fn, "__module__", None):
        raise ValueError(f"job handler {fn!r} must be a module-level function")
    return f"{fn.__module__}:{qualname}"


def register(kind: str, handler: str | Callable[..., Any] | None = None) -> Any:
    """Register the handler of a job kind.

    Parameters
    ----------
    kind : str
        The job kind (at most :data:`KIND_MAX` characters), as submitted.
    handler : str or callable, optional
        A module-level function or its import path ``"package.module:function"``. When
        omitted, ``register`` returns a decorator.

    Returns
    -------
    The handler (as given), or a decorator.

    Examples
    --------
    >>> @register("train")  # doctest: +SKIP
    ... def train(ctx, params):
    ...     ctx.progress(0.5, "half way")
    ...     return {"model_version_id": 1}
    >>> register("ingest", "mypackage.jobs:ingest")  # doctest: +SKIP
    """
    if not kind or len(kind) > KIND_MAX:
        raise ValueError(f"a job kind needs 1 to {KIND_MAX} characters")
    if handler is None:

        def decorator(fn: H) -> H:
            _registry[kind] = import_path(fn)
            return fn

        return decorator
    _registry[kind] = handler if isinstance(handler, str) else import_path(handler)
    return handler


def retry_errors(times: int) -> Callable[[H], H]:
    """Retry a handler's unexpected errors at most ``times`` times (default: ``max_attempts``).

    For handlers whose attempt is expensive and whose failures mostly repeat (a search
    that spends its whole time budget before failing): a job's attempt number must not
    exceed ``times`` for an error to be retried. A lost worker is retried as usual, up to
    the job's ``max_attempts``; a deterministic error (any ``HarborError`` but
    ``UpstreamError``: bad input, a conflict, something not found) is never retried.

    Examples
    --------
    >>> @retry_errors(1)  # doctest: +SKIP
    ... def automl(ctx, params): ...
    """
    if times < 0:
        raise ValueError("retry_errors needs a count of at least 0")

    def decorator(fn: H) -> H:
        # The count travels on the function itself (no registry entry to keep in step).
        fn.retry_errors = times  # type: ignore[attr-defined]
        return fn

    return decorator


def may_retry_error(handler: Any, attempt: int) -> bool:
    """Whether an unexpected error of ``handler`` on ``attempt`` (1 = first) may be retried."""
    limit = getattr(handler, "retry_errors", None)
    return limit is None or attempt <= limit


def unregister(kind: str) -> None:
    """Forget a kind (tests use it to undo their registrations)."""
    _registry.pop(kind, None)


def registered_kinds() -> dict[str, str]:
    """A copy of the registry: kind → import path."""
    return dict(_registry)


def handler_path(kind: str) -> str:
    """The import path registered for ``kind``.

    Raises
    ------
    InvalidInputError
        If no handler is registered for ``kind``.
    """
    try:
        return _registry[kind]
    except KeyError:
        raise InvalidInputError(f"no handler is registered for job kind {kind!r}", kind=kind)


def load_handler(path: str) -> Callable[..., Any]:
    """Import the function named by ``"package.module:function"`` (a ``Handler``)."""
    module_name, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    handler: Callable[..., Any] = obj  # whatever the path names; calling it will tell
    return handler
