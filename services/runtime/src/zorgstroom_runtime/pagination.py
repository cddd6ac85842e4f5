"""Pages of a list answer: `limit` and `after` in, one page and its `next_after` cursor out.

Every list route takes the same two query parameters (PageDep) and answers its items with `next_after`: null
on the last page, otherwise the value to pass as `after` for the next one. The cursor is opaque to a caller.
Where a list has a sort key (its order, with an id to break ties) the cursor holds the key of the last item
shown, so the next page starts after it even when items came or went in between (a waiting client placed);
a list without one is paged by position.
"""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import Field

from zorgstroom_runtime.errors import InvalidField

DEFAULT_LIMIT = 100  # today's lists are shorter: their answers stay whole
MAX_LIMIT = 500
T = TypeVar("T")
SortKey = tuple[str | int, ...]
_CURSOR = r"^[A-Za-z0-9_-]{1,400}$"


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    after: str | None = None


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (default 100).")] = DEFAULT_LIMIT,
    after: Annotated[
        str | None, Query(pattern=_CURSOR, description="The `next_after` of the previous page: the page after it.")
    ] = None,
) -> PageRequest:
    return PageRequest(limit, after)


PageDep = Annotated[PageRequest, Depends(page_request)]
# The member of a list answer that carries the cursor.
NextAfter = Annotated[
    str | None, Field(description="Pass as `after` for the next page; null on the last (or only) page.")
]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_after: str | None


def page_of(items: Sequence[T], page: PageRequest, key: Callable[[T], SortKey] | None = None) -> Page[T]:
    """One page of `items`. With `key` (unique per item), the items are answered in ascending order of it and
    the cursor is the last item's key. Without it, in their order, and the cursor is a position.

    Keyed items are sorted here, as Python compares keys (text by code point), whatever order they came in: a
    query's ORDER BY follows the database's collation, under which "a1" may come before "B1", and a cursor
    compared in another order than the list's skips items. Queries of paged text keys still say COLLATE "C"
    (the same order), so the sort finds them sorted and costs one pass."""
    if key is not None:
        items = sorted(items, key=key)
    start = 0
    if page.after is not None:
        cursor = _decode(page.after)
        if key is None and type(cursor) is int and cursor >= 0:
            start = cursor
        elif key is not None and isinstance(cursor, list):
            last = tuple(cursor)
            start = next((i for i, item in enumerate(items) if _after(key(item), last)), len(items))
        else:
            raise InvalidField("after", "is not a cursor of this list: pass `next_after` as it was answered")
    shown = list(items[start : start + page.limit])
    if start + page.limit >= len(items):
        return Page(shown, None)
    return Page(shown, _encode(list(key(shown[-1])) if key is not None else start + page.limit))


def _after(item: SortKey, last: SortKey) -> bool:
    try:
        return item > last
    except TypeError:  # a cursor of another list: its parts compare with none of these
        raise InvalidField("after", "is not a cursor of this list: pass `next_after` as it was answered") from None


def _encode(cursor: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(text: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidField("after", "is not a cursor: pass `next_after` as it was answered") from None
