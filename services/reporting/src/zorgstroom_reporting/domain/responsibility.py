"""Who is responsible for a fact on a day: the municipality recorded on it, until an accepted transfer of
its episode takes effect (docs/domain.md, rule 9: a transfer applies from its effective date to that
registration only; a later registration starts fresh)."""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date

from zorgstroom_reporting.domain.facts import PlacementFact, Registration, Transfer


class Responsibility:
    def __init__(self, transfers: Iterable[Transfer], registrations: Iterable[Registration] = ()) -> None:
        self._registered_on = {r.intake_id: r.registered_on for r in registrations}
        self._by_client: dict[str, list[Transfer]] = defaultdict(list)
        for t in sorted(transfers, key=Transfer.order):
            self._by_client[t.client_ref].append(t)

    def applies(self, transfer: Transfer, intake_id: str | None) -> bool:
        """Whether a transfer concerns the registration `intake_id` (its episode)."""
        if intake_id is None:  # a fact that does not name its registration follows all of the client's transfers
            return True
        if transfer.intake_ids is not None:
            return intake_id in transfer.intake_ids
        registered = self._registered_on.get(intake_id)  # an older transfer: registrations up to its date
        return registered is None or registered <= transfer.effective_on

    def _of(self, client_ref: str, intake_id: str | None) -> list[Transfer]:
        return [t for t in self._by_client.get(client_ref, ()) if self.applies(t, intake_id)]

    def on(self, client_ref: str, intake_id: str | None, recorded: str, day: date) -> str:
        responsible = recorded
        for transfer in self._of(client_ref, intake_id):
            if transfer.effective_on <= day:
                responsible = transfer.to_municipality
        return responsible

    def left_region(self, client_ref: str, intake_id: str | None, day: date) -> bool:
        """Whether the transfer of this registration in force on `day` handed it to a municipality outside the
        region: from then the region no longer keeps the client on its waiting list."""
        in_force = [t for t in self._of(client_ref, intake_id) if t.effective_on <= day]
        return bool(in_force) and not in_force[-1].to_in_region

    def changes_after(self, client_ref: str, intake_id: str | None, day: date) -> list[date]:
        """The dates after `day` on which the responsible municipality of this registration changes."""
        return [t.effective_on for t in self._of(client_ref, intake_id) if t.effective_on > day]

    def runs(self, p: PlacementFact, first: date, after: date) -> Iterator[tuple[str, int]]:
        """The nights of a stay within [first, after), in runs that do not cross a transfer: (municipality,
        nights) per run. An etmaal is a night, so the day of leaving is not counted."""
        if p.start_date is None:
            return
        day, end = max(p.start_date, first), min(p.end_date or after, after)
        while day < end:
            run_end = min([end, *self.changes_after(p.client_ref, p.intake_id, day)])
            yield self.on(p.client_ref, p.intake_id, p.responsible, day), (run_end - day).days
            day = run_end
