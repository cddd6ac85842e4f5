"""Dates and moments in requests as ISO 8601 text only: pydantic alone would also take a number as a Unix time.

`0` would be read as 1970-01-01 and `0.5` as a moment in 1970, although the OpenAPI documents promise a
`date` or `date-time` string; these types refuse anything else (422), and document themselves as before.
"""

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}.*")


def _date_text(value: Any) -> Any:
    if isinstance(value, str) and not _DATE.fullmatch(value):
        raise ValueError("a date is written YYYY-MM-DD")
    if not isinstance(value, str | date):
        raise ValueError("a date is written YYYY-MM-DD, as a string")
    return value


def _moment_text(value: Any) -> Any:
    if isinstance(value, str) and not _MOMENT.fullmatch(value):
        raise ValueError("a moment is written as ISO 8601, e.g. 2026-11-30T00:00:00Z")
    if not isinstance(value, str | datetime):
        raise ValueError("a moment is written as ISO 8601, as a string")
    return value


IsoDate = Annotated[date, BeforeValidator(_date_text)]
IsoDateTime = Annotated[datetime, BeforeValidator(_moment_text)]
