"""The wijk cap on outflow homes over a rolling window (docs/domain.md, "Wijk caps"): a home let to an
outflow client holds one of its wijk's slots for the region's window of calendar months, an open offer holds
one until it is answered."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from zorgstroom_contracts.region import add_months


@dataclass(frozen=True)
class WijkOutflow:
    """What counts against one wijk's cap: the days its homes were let (accepted), and its open offers."""

    let_on: tuple[date, ...] = ()
    open_offers: int = 0

    def with_offer(self) -> "WijkOutflow":
        return WijkOutflow(self.let_on, self.open_offers + 1)


def holds_slot(let_on: date, on: date, window_months: int) -> bool:
    """A home let on `let_on` still counts on day `on`: until the same day `window_months` months later, that
    day excluded. A home let after `on` counts too (an offer dated earlier must not take its slot)."""
    return on < add_months(let_on, window_months)


def homes_counted(homes: WijkOutflow, on: date, window_months: int) -> int:
    return homes.open_offers + sum(1 for day in homes.let_on if holds_slot(day, on, window_months))


def wijk_has_room(cap: int, homes: WijkOutflow, on: date, window_months: int) -> bool:
    """The wijk may receive one more outflow home on day `on`."""
    return homes_counted(homes, on, window_months) < cap


def counted_since(days: Iterable[date], window_months: int) -> date:
    """The earliest letting day that can still count on any of `days`: what the store must read. One month
    more than the window, so that a day the target month lacks (31 March less a month) is never cut off."""
    return add_months(min(days), -window_months - 1)
