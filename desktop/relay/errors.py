"""The relay's one error type and the handlers that give every error the
wire body ``{"error": {"code", "message"}}`` of DESIGN.md."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from desktop.core.wire import error_body
from desktop.relay.logs import (
    describe_exception,
    escape_control,
    install_uvicorn_filter,
    quiet_http_client_logs,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a client caused or must act on; its message is for a person."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def _describe(exc: RequestValidationError) -> tuple[int, str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "malformed_json", "The request body is not valid JSON."
    first = errors[0] if errors else {}
    if tuple(first.get("loc", ())) == ("body",) and first.get("type") in (
        "model_attributes_type",
        "dict_type",
        "missing",
    ):
        return 400, "malformed_json", "The request body must be a JSON object."
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    kind = first.get("type", "")
    if kind == "missing":
        return 422, "missing_field", f"The field '{where}' is required."
    if kind == "extra_forbidden":
        return 422, "unknown_field", f"The field '{where}' is not accepted here."
    if kind in ("literal_error", "enum"):
        return 422, "invalid_value", f"The field '{where}' has a value that is not allowed."
    return 422, "invalid_field", f"The field '{where}' is not valid: {first.get('msg', '')}."


def install_error_handlers(app: FastAPI) -> None:
    install_uvicorn_filter()
    quiet_http_client_logs()

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message = _describe(exc)
        return error_response(status, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else "The request failed."
        if exc.status_code == 404:
            message = f"There is nothing at {request.url.path}."
        elif exc.status_code == 405:
            message = f"{request.method} is not supported on {request.url.path}."
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, message, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The type and frames only: an exception's text may quote request data.
        log.error(
            "internal error on %s %s: %s",
            request.method,
            escape_control(request.url.path),
            describe_exception(exc),
        )
        return error_response(
            500, "internal_error", "The relay failed to handle this request; try again."
        )
