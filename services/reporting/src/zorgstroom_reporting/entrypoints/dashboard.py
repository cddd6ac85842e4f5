"""The reporting dashboard: one static page for regional policy staff (GET /) and its own scripts, styles and
vendored ECharts under /dashboard/. Nothing is fetched from elsewhere; the page reads the /v1 reports with
the bearer token the user pastes in, so serving it needs no authentication."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from zorgstroom_runtime.problems import Problem

# No inline script or style anywhere on the page: ECharts styles the elements it creates through the CSSOM
# (element.style), which style-src does not govern; the dashboard test checks that no violation is reported.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE, VERSION
}

router = APIRouter(tags=["dashboard"], include_in_schema=False)


def _files(root: Path) -> dict[str, tuple[Path, str]]:
    """Every servable file below the dashboard folder by its URL path, fixed when the module loads: a request
    can name only these, never walk the file system."""
    served: dict[str, tuple[Path, str]] = {}
    for path in sorted(root.rglob("*")):
        media_type = CONTENT_TYPES.get(path.suffix)
        hidden = any(part.startswith(".") for part in path.relative_to(root).parts)  # not the install's own path
        if path.is_file() and media_type and not hidden:
            served[path.relative_to(root).as_posix()] = (path, media_type)
    return served


DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"  # package data: ships in the wheel
FILES = _files(DASHBOARD_DIR)


def _serve(name: str) -> FileResponse:
    found = FILES.get(name)
    if found is None:
        raise Problem(404, "Not found", "no such file of the dashboard")
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/", summary="The reporting dashboard")
async def dashboard() -> FileResponse:
    return _serve("index.html")


@router.get("/dashboard/{name:path}", summary="The dashboard's scripts, styles and vendored libraries")
async def dashboard_file(name: str) -> FileResponse:
    return _serve(name)
