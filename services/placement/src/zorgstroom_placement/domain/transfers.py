"""Transfers of responsibility per episode (docs/domain.md, rule 9): a proposal the receiving municipality
accepts or declines; once accepted it takes effect on its effective date, for that episode only."""

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from zorgstroom_contracts.codes import TransferDeclineReason, TransferReason
from zorgstroom_contracts.events import (
    ResponsibilityTransferDeclined,
    ResponsibilityTransferProposed,
    ResponsibilityTransferred,
)


class TransferStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"


@dataclass(frozen=True)
class Transfer:
    transfer_id: str
    client_ref: str
    intake_ids: tuple[str, ...]  # the episode: the registrations waiting or placed when it was proposed
    from_municipality: str
    to_municipality: str
    to_in_region: bool
    reason: TransferReason
    effective_on: date
    proposed_on: date
    status: TransferStatus = TransferStatus.PROPOSED
    answered_on: date | None = None
    decline_reason: TransferDeclineReason | None = None
    applied: bool = False  # the episode's rows name the new municipality (from effective_on on)
    created_at: datetime | None = None  # when it was stored (None before): the order of the list of transfers

    def accepted(self, on: date) -> "Transfer":
        return replace(self, status=TransferStatus.ACCEPTED, answered_on=on)

    def declined(self, on: date, reason: TransferDeclineReason) -> "Transfer":
        return replace(self, status=TransferStatus.DECLINED, answered_on=on, decline_reason=reason)


def takes_effect(transfer: Transfer, today: date) -> bool:
    """An accepted transfer applies to its episode from its effective date on, not before; placement hands
    the episode's rows over on the first day it is due (service_layer/transfers.py, apply_due_transfers)."""
    return transfer.status is TransferStatus.ACCEPTED and not transfer.applied and transfer.effective_on <= today


def proposed_event(transfer: Transfer) -> ResponsibilityTransferProposed:
    return ResponsibilityTransferProposed(
        transfer_id=transfer.transfer_id,
        client_ref=transfer.client_ref,
        intake_ids=list(transfer.intake_ids),
        from_municipality=transfer.from_municipality,
        to_municipality=transfer.to_municipality,
        to_in_region=transfer.to_in_region,
        reason=transfer.reason,
        effective_on=transfer.effective_on,
        proposed_on=transfer.proposed_on,
    )


def transferred_event(transfer: Transfer) -> ResponsibilityTransferred:
    """On acceptance: from `effective_on` the new municipality is responsible for this episode only."""
    return ResponsibilityTransferred(
        client_ref=transfer.client_ref,
        from_municipality=transfer.from_municipality,
        to_municipality=transfer.to_municipality,
        to_in_region=transfer.to_in_region,
        reason=transfer.reason,
        effective_on=transfer.effective_on,
        transfer_id=transfer.transfer_id,
        intake_ids=list(transfer.intake_ids),
        accepted_on=transfer.answered_on,
    )


def declined_event(transfer: Transfer) -> ResponsibilityTransferDeclined:
    assert transfer.decline_reason is not None and transfer.answered_on is not None
    return ResponsibilityTransferDeclined(
        transfer_id=transfer.transfer_id,
        client_ref=transfer.client_ref,
        from_municipality=transfer.from_municipality,
        to_municipality=transfer.to_municipality,
        reason=transfer.decline_reason,
        declined_on=transfer.answered_on,
    )
