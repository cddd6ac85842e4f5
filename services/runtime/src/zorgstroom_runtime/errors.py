"""Application errors a service layer raises; the HTTP edge turns each into RFC 9457 problem+json once.

Service code knows nothing of HTTP: it says *what* went wrong (not found, forbidden, a conflict with
the current state, an invalid field), and `problems.install_problem_handlers` maps that to a status.
"""

from typing import Any, ClassVar


class ApplicationError(Exception):
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    default_kind: ClassVar[str] = "bad-request"

    def __init__(self, detail: str, *, kind: str | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.kind = kind or self.default_kind
        self.extensions = extensions


class NotFound(ApplicationError):
    status, title, default_kind = 404, "Not found", "not-found"


class Forbidden(ApplicationError):
    status, title, default_kind = 403, "Forbidden", "forbidden"


class Conflict(ApplicationError):
    """The request is valid but the current state refuses it (a cap, a quota, an answer given before)."""

    status, title, default_kind = 409, "Conflict", "conflict"


class InvalidField(ApplicationError):
    """A field's value is well-formed but not acceptable (a municipality outside the region, ...)."""

    status, title, default_kind = 422, "Invalid request", "invalid-request"

    def __init__(self, field: str, message: str, **extensions: Any) -> None:
        super().__init__(
            f"the request is not valid: {field}: {message}",
            errors=[{"field": field, "message": message, "type": "value_error"}],
            **extensions,
        )
        self.field = field


class InvalidFields(ApplicationError):
    """Several fields' values are well-formed but not acceptable; each is named with its message."""

    status, title, default_kind = 422, "Invalid request", "invalid-request"

    def __init__(self, errors: list[tuple[str, str]], **extensions: Any) -> None:
        super().__init__(
            "the request is not valid: " + ", ".join(field for field, _ in errors),
            errors=[{"field": f, "message": m, "type": "value_error"} for f, m in errors],
            **extensions,
        )
        self.fields = [field for field, _ in errors]
