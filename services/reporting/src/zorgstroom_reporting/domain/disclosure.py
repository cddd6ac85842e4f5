"""Small numbers (policy): an aggregate of fewer clients than the region's threshold is shown as "<N" to
everyone but the responsible municipality, so a small municipality's report cannot single out a person.
Zero is shown: it singles out nobody."""

from collections.abc import Iterable, Mapping

Shown = int | float | str | None


def disclose(value: Shown, threshold: int, *, exact: bool) -> Shown:
    if exact or not isinstance(value, int) or isinstance(value, bool) or value == 0 or value >= threshold:
        return value
    return f"<{threshold}"


def disclose_counts(
    row: Mapping[str, Shown], columns: Iterable[str], threshold: int, *, exact: bool
) -> dict[str, Shown]:
    counted = set(columns)
    return {k: disclose(v, threshold, exact=exact) if k in counted else v for k, v in row.items()}
