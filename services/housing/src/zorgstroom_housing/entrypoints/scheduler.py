"""The scheduler that lapses unanswered offers and, once a day, offers the units whose day has come. Its state
lives in the offers table (created_at) and the units' dates, so a restart loses no deadline."""

import asyncio
import logging
from datetime import date, timedelta

from zorgstroom_housing.adapters.unit_of_work import units_of_work
from zorgstroom_housing.service_layer.offers import lapse_due_offers, offer_what_came_free
from zorgstroom_runtime.app import ServiceContext
from zorgstroom_runtime.db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)


async def lapse_offers_job(context: ServiceContext) -> None:
    policy = context.region.housing
    seconds = context.settings.offer_lapse_after_seconds  # a demo runs a year in minutes
    after = timedelta(seconds=seconds) if seconds is not None else timedelta(days=policy.offer_answer_days)
    interval = min(5.0, max(0.2, after.total_seconds() / 4))
    units = units_of_work(context)
    passed: date | None = None  # the day of the last daily pass; a restart runs one at once
    while True:
        try:
            today = date.today()
            if passed != today:
                await offer_what_came_free(units, policy, today)
                passed = today
            await lapse_due_offers(units, policy, after, today)
        except TRANSIENT_DB_ERRORS as error:
            log.warning("lapsing offers paused: %r", error)
        except Exception:
            log.exception("lapsing offers failed; trying again")
        await asyncio.sleep(interval)
