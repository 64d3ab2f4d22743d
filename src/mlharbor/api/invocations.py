"""The MLflow scoring routes served beside FastAPI's router, not through it.

Profiled on a 100-row ``dataframe_split`` request, FastAPI's routing (matching the path
against every route before it), solving the route's dependencies (the app-wide
:func:`~mlharbor.api.auth.authorize`, the route's ``require(predict)``, ``get_hub``), its
endpoint wrapper and the exception middleware cost about as much as parsing the body and
casting its columns together. :class:`InvocationsRoute` answers ``POST`` on that one route
as the innermost middleware, inside every middleware the app has (request id, metrics and
access log, Host and Origin checks, body limits), and does what the skipped layers did:

- the same scope check (:func:`~mlharbor.api.auth.check` for ``predict``; the route
  declares it, so the fail-closed check has nothing to refuse);
- the same handler, :func:`~mlharbor.api.routes.predict.mlflow_invocation`;
- the same error answers: an exception is given to the app's own exception handlers, looked
  up by its class as Starlette's exception middleware does; one with no handler goes on to
  the server-error middleware, as before;
- the same route in the request's scope, so metrics and logs label it as before.

Any other method, or any other path, goes through FastAPI as before; the FastAPI route
stays declared, so the OpenAPI document and the scope tests still see it. The single-model
app of ``mlharbor serve-model`` serves its ``/invocations`` the same way.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from mlharbor.api.auth import check
from mlharbor.api.routes.predict import mlflow_invocation
from mlharbor.api.routes.predict import router as predict_router
from mlharbor.keys import Scope as KeyScope


def invocations_route() -> APIRoute:
    """The FastAPI route of ``POST /api/v1/models/{name}/{ref}/invocations``."""
    return next(
        r
        for r in predict_router.routes
        if isinstance(r, APIRoute) and r.path.endswith("/{name}/{ref}/invocations")
    )


class InvocationsRoute:
    """Serve ``POST`` on the MLflow scoring route without the router (see the module).

    ``route`` is the FastAPI route it stands for (by default the hub app's
    ``/api/v1/models/{name}/{ref}/invocations``, whose path names the model); ``model``, the
    ``(name, ref)`` a single-model app serves on ``/invocations``.
    """

    def __init__(
        self, app: ASGIApp, route: APIRoute | None = None, model: tuple[str, str] | None = None
    ) -> None:
        self.app = app
        self.route = route or invocations_route()
        self.model = model
        self.regex = self.route.path_regex
        self.convertors = self.route.param_convertors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = self.regex.match(get_route_path(scope))  # the path as the router matches it
        if match is None:
            await self.app(scope, receive, send)
            return
        params = {k: self.convertors[k].convert(v) for k, v in match.groupdict().items()}
        name, ref = self.model or (params["name"], params["ref"])
        scope["route"] = self.route
        scope["endpoint"] = self.route.endpoint
        scope["path_params"] = params
        request = Request(scope, receive, send)
        try:
            check(request, KeyScope.PREDICT)
            response = await mlflow_invocation(request.app.state.hub, name, ref, request)
        except Exception as exc:
            handler = _handler(request.app.exception_handlers, exc)
            if handler is None:
                raise  # to the server-error middleware, as from the router
            response = await handler(request, exc)
        await response(scope, receive, send)


def _handler(handlers: dict[Any, Any], exc: Exception) -> Any:
    """The app's handler for ``exc``, chosen as Starlette's ``ExceptionMiddleware`` chooses
    (the catch-all ``Exception`` and ``500`` handlers belong to the outer server-error
    middleware, which sees whatever is raised from here)."""
    if isinstance(exc, HTTPException) and exc.status_code in handlers:
        return handlers[exc.status_code]
    for cls in type(exc).__mro__:
        if cls is not Exception and cls in handlers:
            return handlers[cls]
    return None
