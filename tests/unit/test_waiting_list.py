"""The waiting list's order: emergency first, then urgency, then longest waiting."""

from datetime import date

from zorgstroom_contracts.codes import CareForm, Urgency
from zorgstroom_placement.domain.waiting_list import WaitingClient, in_priority_order, priority_key


def client(ref: str, urgency: Urgency, since: date) -> WaitingClient:
    return WaitingClient(ref, CareForm.MO_24H, "0034", urgency, since)


def test_emergency_clients_jump_the_waiting_list() -> None:
    clients = [
        client("old-normal", Urgency.NORMAL, date(2026, 1, 1)),
        client("new-emergency", Urgency.EMERGENCY, date(2027, 1, 1)),
        client("high", Urgency.HIGH, date(2026, 6, 1)),
        client("older-normal", Urgency.NORMAL, date(2025, 1, 1)),
    ]
    assert [c.client_ref for c in in_priority_order(clients)] == ["new-emergency", "high", "older-normal", "old-normal"]


def test_waiting_days_count_from_registration() -> None:
    assert client("x", Urgency.NORMAL, date(2027, 1, 1)).waiting_days(date(2027, 1, 31)) == 30


def test_clients_waiting_equally_long_keep_one_order_whatever_order_they_arrive_in() -> None:
    same_day = date(2027, 1, 1)
    a = WaitingClient("c-1", CareForm.MO_24H, "0034", Urgency.NORMAL, same_day, intake_id="i-2")
    b = WaitingClient("c-2", CareForm.MO_24H, "0034", Urgency.NORMAL, same_day, intake_id="i-1")
    assert in_priority_order([a, b]) == in_priority_order([b, a]) == [b, a]


def test_the_order_is_the_priority_key() -> None:
    clients = [
        client("normal", Urgency.NORMAL, date(2025, 1, 1)),
        client("emergency", Urgency.EMERGENCY, date(2027, 1, 1)),
    ]
    assert in_priority_order(clients) == sorted(clients, key=priority_key)
