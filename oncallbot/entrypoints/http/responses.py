"""The error body every route answers with: `{"error": "..."}`."""

from starlette.responses import JSONResponse


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
