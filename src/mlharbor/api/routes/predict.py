"""Online prediction: mlharbor's own endpoint and the MLflow scoring protocol."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from mlharbor.api.auth import NEEDS_PREDICT
from mlharbor.api.deps import HubDep
from mlharbor.api.schemas import Problem
from mlharbor.config import Settings
from mlharbor.errors import HarborError
from mlharbor.hub import Hub
from mlharbor.limits import INLINE_PARSE_BYTES
from mlharbor.serving.inputs import frame_from_body
from mlharbor.serving.predictor import Prediction

router = APIRouter(prefix="/api/v1/models", tags=["prediction"])
BODY = {
    "requestBody": {
        "content": {
            "application/json": {
                "schema": {"type": "object"},
                "example": {
                    "records": [
                        {
                            "sepal.length": 5.1,
                            "sepal.width": 3.5,
                            "petal.length": 1.4,
                            "petal.width": 0.2,
                        }
                    ]
                },
            },
            "text/csv": {"schema": {"type": "string"}},
        }
    }
}
#: Which engine answered: "onnx" (onnxruntime) or "sklearn".
BACKEND_HEADER = "x-mlharbor-backend"
MLFLOW_TYPES = ("application/json", "text/csv")
MLFLOW_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    422: "BAD_REQUEST",
    409: "INVALID_STATE",
}


async def read_frame(request: Request, settings: Settings) -> Any:
    """The request body as a DataFrame, whatever accepted shape it came in (or ``[record]``).

    Small bodies are parsed on the event loop, where they cost less than a thread hop; big
    ones in the threadpool, so that the server goes on answering while they parse.
    """
    data = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    depth = settings.max_json_depth
    parse = partial(frame_from_body, data, ctype, settings.max_predict_rows, depth)
    return parse() if len(data) <= INLINE_PARSE_BYTES else await run_in_threadpool(parse)


def _rows(frame: Any) -> int:
    if isinstance(frame, dict):
        return len(next(iter(frame.values()), ()))
    return len(frame)


async def run_predict(hub: Hub, name: str, ref: str, frame: Any, request_id: str) -> Prediction:
    """Predict on the event loop when the model is loaded and answers small requests in well
    under the cost of a threadpool hop; in the threadpool otherwise (loading, I/O, big
    requests), so that the loop keeps serving other requests."""
    predict = partial(hub.predictor.predict, request_id=request_id)
    if hub.predictor.is_cheap(name, ref, _rows(frame)):
        return predict(name, ref, frame)
    return await run_in_threadpool(predict, name, ref, frame)


@router.post(
    "/{name}/{ref}/predict",
    openapi_extra=BODY,
    responses={404: {"model": Problem}, 413: {"model": Problem}, 422: {"model": Problem}},
    dependencies=NEEDS_PREDICT,
)
async def predict(
    hub: HubDep, name: str, ref: str, request: Request, response: Response
) -> dict[str, Any]:
    """Predict rows (JSON records, columns, or CSV) with a model version or alias."""
    frame = await read_frame(request, hub.settings)
    result = await run_predict(hub, name, ref, frame, request.state.request_id)
    request.app.state.metrics.predictions.labels(result.model).inc(len(result.predictions))
    response.headers[BACKEND_HEADER] = result.backend
    return {**result.to_dict(), "request_id": request.state.request_id}


async def mlflow_invocation(hub: Hub, name: str, ref: str, request: Request) -> Response:
    """Answer an MLflow ``/invocations`` request as ``mlflow models serve`` does.

    JSON or CSV in; ``{"predictions": ...}`` out; errors as ``{"error_code", "message"}``
    (400, 404, 413); other content types or charsets are 415 in plain text.
    """
    ctype = request.headers.get("content-type", "application/json")
    mime, *params = (part.strip() for part in ctype.split(";"))
    options = dict(p.partition("=")[::2] for p in params)
    if options.get("charset", "utf-8").lower() != "utf-8":
        return PlainTextResponse("The scoring server only supports UTF-8", status_code=415)
    if mime.lower() not in MLFLOW_TYPES:
        return PlainTextResponse(
            "This predictor only supports the following content types: "
            f"{list(MLFLOW_TYPES)}. Got {ctype!r}.",
            status_code=415,
        )
    try:
        frame = await read_frame(request, hub.settings)
        result = await run_predict(hub, name, ref, frame, request.state.request_id)
    except HarborError as exc:
        status = 404 if exc.status == 404 else 413 if exc.status == 413 else 400
        return JSONResponse(
            {"error_code": MLFLOW_CODES.get(exc.status, "BAD_REQUEST"), "message": exc.message},
            status_code=status,
        )
    request.app.state.metrics.predictions.labels(result.model).inc(len(result.predictions))
    return JSONResponse(
        {"predictions": result.predictions}, headers={BACKEND_HEADER: result.backend}
    )


@router.post(
    "/{name}/{ref}/invocations",
    openapi_extra=BODY,
    responses={
        400: {"description": "MLflow-style error: error_code and message"},
        404: {"description": "MLflow-style error: error_code and message"},
        415: {"description": "Neither JSON nor CSV"},
    },
    dependencies=NEEDS_PREDICT,
)
async def invocations(hub: HubDep, name: str, ref: str, request: Request) -> Response:
    """The MLflow scoring protocol: ``{"predictions": ...}`` for the model at ``ref``."""
    return await mlflow_invocation(hub, name, ref, request)
