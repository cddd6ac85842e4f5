"""Consent to share with housing corporations on a day (docs/domain.md, rule 14), as housing applies it: the
latest dated fact counts; on the same day a recorded consent outranks the registration's."""

from collections.abc import Iterable
from datetime import date

from zorgstroom_reporting.domain.facts import Consent, Registration


def consents_on(registrations: Iterable[Registration], recorded: Iterable[Consent], day: date) -> bool:
    """Whether the client consents at the end of `day`: the latest fact dated on or before it; of two on one day
    a recorded one before a registration's, the later recorded one (by when it occurred) before an earlier one.
    No fact at all is no consent."""
    facts = [
        ((r.registered_on, 0, "", r.intake_id), r.consent_to_share) for r in registrations if r.registered_on <= day
    ]
    facts += [((c.recorded_on, 1, c.order, ""), c.given) for c in recorded if c.recorded_on <= day]
    return max(facts)[1] if facts else False
