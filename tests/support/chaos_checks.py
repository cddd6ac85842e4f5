"""The fault suite's verdict: every invariant of the region, read from the services' own tables and the
topics after the load has stopped and everything has drained.

"lost" counts findings (an intake, a placement's assessments, ...), not requests: an effect of a write the
load saw accepted that is missing from the service that accepted it, from the services its events feed
(placement and housing for an intake, housing for a transfer, reporting for intakes and assessments), or
from the topic its event belongs on; and a write a service stored as answered 2xx (its idempotency table)
that the load never saw answered. "duplicated" counts effects found twice in the services' own tables (one
person's intake twice, more assessments of a placement than were accepted, a client placed or housed
twice): the topics are at-least-once by design (a relay that dies between send and mark sends again), so a
second copy of an event on a topic is no duplicate; the consumers' event_id ledgers make it harmless.
Some checks cannot fail while the tables' constraints hold (two open placements of one client); they stay
as a guard.
The flow must have been exercised: at least one accepted write of each kind.
"""

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.chaos_load import Load
from zorgstroom_contracts.events import EVENT_TYPES
from zorgstroom_contracts.topics import DLQ_SUFFIX, topic_name
from zorgstroom_housing.bootstrap import DEFINITION as HOUSING
from zorgstroom_intake.bootstrap import DEFINITION as INTAKE
from zorgstroom_placement.bootstrap import DEFINITION as PLACEMENT
from zorgstroom_reporting.bootstrap import DEFINITION as REPORTING
from zorgstroom_runtime.kafka import KafkaConnection, partitions_of

SCHEMAS = ("intake", "placement", "housing", "reporting")
DEFINITIONS = (INTAKE, PLACEMENT, HOUSING, REPORTING)
# Every kind of write the load makes: each must have been accepted at least once, or the run proved little.
WRITE_KINDS = (
    "intake", "facility", "contingent", "assessment", "ending", "unit",
    "offer-accept", "offer-decline", "transfer", "transfer-accept",
)  # fmt: skip
OFFERS_IN = "SELECT offer_id FROM housing.offers WHERE status = ANY($1::text[])"
VOIDED_BUT_OPEN = (
    "SELECT o.offer_id FROM housing.offers o JOIN placement.placements p ON p.placement_id = o.placement_id"
    " WHERE o.status = 'voided' AND p.end_date IS NULL"
)
ACCEPTED_BUT_OPEN = (
    "SELECT o.offer_id FROM housing.offers o JOIN placement.placements p USING (placement_id)"
    " WHERE o.status = 'accepted' AND p.end_date IS NULL"
)


@dataclass
class Verdict:
    lost: int = 0
    duplicated: int = 0
    failures: list[str] = field(default_factory=list)
    ends: dict[str, int] = field(default_factory=dict)  # every partition's end offset when it was read

    def fail(self, what: str, found: Any = None) -> None:
        self.failures.append(what if found is None else f"{what}: {_short(found)}")

    def lose(self, what: str, items: Any) -> None:
        items = sorted(map(str, items))
        if items:
            self.lost += len(items)
            self.fail(f"lost {what}", items)

    def duplicate(self, what: str, items: Any) -> None:
        items = sorted(map(str, items))
        if items:
            self.duplicated += len(items)
            self.fail(f"duplicated {what}", items)


def _short(found: Any) -> str:
    text = repr(found)
    return text if len(text) < 400 else text[:400] + "..."


@dataclass
class TopicRecord:
    topic: str
    partition: int
    offset: int
    key: str
    event_id: str


async def read_everything(bootstrap: str, prefix: str) -> tuple[list[TopicRecord], dict[str, int]]:
    """Every record on every topic of the prefix (dead letters too), each partition read to its end."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
    finally:
        await admin.close()
    # From the brokers' own description: a consumer's metadata may not know every topic yet.
    partitions = await partitions_of(KafkaConnection(bootstrap), topics)
    if set(partitions) != set(topics):
        raise RuntimeError(f"topics without partitions: {sorted(set(topics) - set(partitions))}")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t, ps in partitions.items() for p in ps]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        # Explicitly: seek_to_beginning can lose to the reset that assign() started (then it reads from the end).
        for tp, first in (await consumer.beginning_offsets(tps)).items():
            consumer.seek(tp, first)
        records: list[TopicRecord] = []
        pending, deadline = {tp for tp in tps if ends[tp] > 0}, time.monotonic() + 120
        while pending and time.monotonic() < deadline:
            for tp, batch in (await consumer.getmany(*pending, timeout_ms=1000)).items():
                for r in batch:
                    value = json.loads(r.value) if r.value else {}
                    key = r.key.decode() if r.key else ""
                    records.append(TopicRecord(tp.topic, tp.partition, r.offset, key, str(value.get("event_id", ""))))
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        if pending:
            raise TimeoutError(f"could not read {sorted(map(str, pending))} to their ends")
        return records, {f"{tp.topic}:{tp.partition}": end for tp, end in ends.items()}
    finally:
        await consumer.stop()


def expected_groups(prefix: str) -> dict[str, list[str]]:
    """Every consumer group the services run, with the topics it reads."""
    return {
        f"{prefix}{d.name}": sorted({topic_name(EVENT_TYPES[e].topic, prefix) for e in d.consumed_event_types()})
        for d in DEFINITIONS
        if d.consumed_event_types()
    }


async def consumer_lag(bootstrap: str, prefix: str) -> dict[str, int | str]:
    """Per expected consumer group, how many records of its topics it has not committed (a partition it
    never committed lags by all it holds); "absent" for a group the brokers do not know."""
    groups = expected_groups(prefix)
    partitions = await partitions_of(KafkaConnection(bootstrap), sorted({t for ts in groups.values() for t in ts}))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        known = {group for group, _protocol in await admin.list_consumer_groups()}
        lag: dict[str, int | str] = {}
        for group, topics in groups.items():
            if group not in known:
                lag[group] = "absent"
                continue
            committed = await admin.list_consumer_group_offsets(group)
            tps = [TopicPartition(t, p) for t in topics for p in partitions.get(t, [])]
            ends, firsts = await consumer.end_offsets(tps), await consumer.beginning_offsets(tps)
            done = {tp: committed[tp].offset for tp in tps if tp in committed and committed[tp].offset >= 0}
            lag[group] = sum(max(0, ends[tp] - done.get(tp, firsts[tp])) for tp in tps)
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def check(database_url: str, bootstrap: str, prefix: str, load: Load, region: dict[str, Any]) -> Verdict:
    verdict = Verdict()
    records, verdict.ends = await read_everything(bootstrap, prefix)
    db = await asyncpg.connect(database_url)
    try:
        await _accepted_requests(db, verdict, load, records)
        await _reflected_elsewhere(db, verdict, load)
        await _answered_unseen(db, verdict, load)
        await _placement(db, verdict)
        await _housing(db, verdict, region)
        await _reporting_equals_sources(db, verdict)
        await _outboxes(db, verdict, records, prefix)
    finally:
        await db.close()
    lag = await consumer_lag(bootstrap, prefix)
    if any(lag.values()):
        verdict.fail("consumer lag", {g: n for g, n in lag.items() if n})
    dead = Counter(r.topic for r in records if r.topic.endswith(DLQ_SUFFIX))
    if dead:
        verdict.fail("dead letters", dict(dead))
    _the_load(verdict, load)
    return verdict


def hopeless(load: Load) -> list[str]:
    """What the load saw that no waiting can heal."""
    return [*load.unexpected, *load.given_up]


def _the_load(v: Verdict, load: Load) -> None:
    if load.unexpected:
        v.fail("answers no fault explains", load.unexpected)
    if load.given_up:
        v.fail("writes never answered", load.given_up)
    # A 404/409 after an ambiguous attempt is not failed here: the attempt may never have committed and another
    # actor changed the state since (two actors ending one placement). A replay that lost the first answer is
    # caught anyway: its key holds a stored 2xx the load never saw, which counts as lost.
    idle = [kind for kind in WRITE_KINDS if not load.of(kind)]
    if idle:
        v.fail("flow not exercised: no accepted write of", idle)


async def _answered_unseen(db: asyncpg.Connection, v: Verdict, load: Load) -> None:
    """Every load key a service stored a 2xx answer for must be one the load saw answered 2xx."""
    stored: set[str] = set()
    for schema in SCHEMAS:
        rows = await db.fetch(
            f"SELECT key FROM {schema}.idempotent_requests WHERE key LIKE 'chaos-%' AND status BETWEEN 200 AND 299"
        )
        stored |= {r["key"] for r in rows}
    stored |= {r["key"] for r in await db.fetch("SELECT key FROM intake.idempotency_keys WHERE key LIKE 'chaos-%'")}
    v.lose("writes accepted by the service, unseen by the load", stored - {a.key for a in load.accepted})


async def _reflected_elsewhere(db: asyncpg.Connection, v: Verdict, load: Load) -> None:
    """Accepted writes whose effect must also show in the services their events feed."""
    intakes = {a.body["intake_id"] for a in load.of("intake")}
    placed = {
        r["intake_id"]
        for r in await db.fetch(
            "SELECT intake_id FROM placement.waiting_list UNION SELECT intake_id FROM placement.placements"
        )
    }
    v.lose("intakes (not in placement's waiting list or placements)", intakes - placed)
    refs = await db.fetch("SELECT intake_id::text, client_ref FROM intake.intakes")
    clients = {r["client_ref"] for r in await db.fetch("SELECT client_ref FROM housing.clients")}
    v.lose(
        "intakes (client not in housing)",
        {r["intake_id"] for r in refs if r["intake_id"] in intakes and r["client_ref"] not in clients},
    )
    assessed = {a.body["event_id"] for a in load.of("assessment")}
    reported = {str(r["event_id"]) for r in await db.fetch("SELECT event_id FROM reporting.assessments")}
    v.lose("assessments (not in reporting)", assessed - reported)
    quotas = {(*a.request["path"].split("/")[3:6], a.request["body"]["units"]) for a in load.of("contingent")}
    have = {
        (r["corporation_id"], r["municipality"], str(r["year"]), r["units"])
        for r in await db.fetch("SELECT corporation_id, municipality, year, units FROM housing.contingents")
    }
    v.lose("contingents", quotas - have)
    proposed = {a.body["transfer_id"] for a in load.of("transfer")}
    known = {r["transfer_id"] for r in await db.fetch("SELECT transfer_id FROM placement.transfers")}
    v.lose("transfer proposals (not in placement)", proposed - known)
    accepted = {a.body["transfer_id"] for a in load.of("transfer-accept")}
    housed = {r["transfer_id"] for r in await db.fetch("SELECT transfer_id FROM housing.transfers")}
    v.lose("transfers accepted (not in housing)", accepted - housed)
    v.lose("offers accepted (their placement still open)", [r["offer_id"] for r in await db.fetch(ACCEPTED_BUT_OPEN)])


async def _accepted_requests(db: asyncpg.Connection, v: Verdict, load: Load, records: list[TopicRecord]) -> None:
    events = {r.event_id for r in records}

    intakes = {a.body["intake_id"]: a.body["event_id"] for a in load.of("intake")}
    stored = Counter(str(r["intake_id"]) for r in await db.fetch("SELECT intake_id FROM intake.intakes"))
    per_client = Counter(r["client_ref"] for r in await db.fetch("SELECT client_ref FROM intake.intakes"))
    v.lose("intakes (not in intake)", set(intakes) - set(stored))
    v.duplicate("intakes (one person registered twice)", [c for c, n in per_client.items() if n > 1])
    reported = {r["intake_id"] for r in await db.fetch("SELECT intake_id FROM reporting.registrations")}
    v.lose("intakes (not in reporting)", set(intakes) - reported)
    if reported - set(stored):
        v.fail("registrations in reporting that intake never made", reported - set(stored))
    v.lose("events of accepted intakes (not on the topic)", set(intakes.values()) - events)

    with_event = [a for a in load.accepted if "event_id" in a.body and a.kind != "intake"]
    v.lose("events of accepted writes (not on a topic)", {a.body["event_id"] for a in with_event} - events)
    # Per placement: a total could hide a lost assessment of one behind a duplicate of another.
    assessed = Counter(a.request["path"].split("/")[3] for a in load.of("assessment"))
    rows = Counter(r["placement_id"] for r in await db.fetch("SELECT placement_id FROM placement.assessments"))
    v.duplicate("assessments (more rows than accepted)", [p for p in rows if rows[p] > assessed[p]])
    v.lose("assessments (fewer rows than accepted)", [p for p in assessed if rows[p] < assessed[p]])
    ended = {a.request["path"].split("/")[3] for a in load.of("ending")}
    open_now = {
        r["placement_id"]
        for r in await db.fetch("SELECT placement_id FROM placement.placements WHERE end_date IS NULL")
    }
    v.lose("endings (placement still open)", ended & open_now)
    units = {a.request["body"]["unit_id"] for a in load.of("unit")}
    known = {r["unit_id"] for r in await db.fetch("SELECT unit_id FROM housing.housing_units")}
    v.lose("housing units", units - known)
    # An acceptance that reaches placement after the placement ended is voided (its quota unit given back):
    # still the answer, reflected once, so long as the placement it was made in did end.
    for choice, statuses in (("accept", ["accepted", "voided"]), ("decline", ["declined"])):
        answered = {a.request["path"].split("/")[3] for a in load.of(f"offer-{choice}")}
        have = {r["offer_id"] for r in await db.fetch(OFFERS_IN, statuses)}
        v.lose(f"offers {statuses[0]}", answered - have)
    voided_open = await db.fetch(VOIDED_BUT_OPEN)
    if voided_open:
        v.fail("offers voided while their placement is open", [r["offer_id"] for r in voided_open])
    transfers = {a.body["transfer_id"] for a in load.of("transfer-accept")}
    have = {
        r["transfer_id"]
        for r in await db.fetch("SELECT transfer_id FROM placement.transfers WHERE status = 'accepted'")
    }
    v.lose("transfers accepted", transfers - have)
    housed = await db.fetch(
        "SELECT client_ref FROM housing.offers WHERE status = 'accepted' GROUP BY 1 HAVING count(*) > 1"
    )
    v.duplicate("clients housed twice", [r["client_ref"] for r in housed])
    for fid, capacity in load.capacities.items():
        stored_capacity = await db.fetchval("SELECT capacity FROM placement.facilities WHERE facility_id = $1", fid)
        if stored_capacity != capacity:
            v.lose(f"facility {fid}'s capacity", [f"{stored_capacity} where {capacity} was accepted"])


async def _placement(db: asyncpg.Connection, v: Verdict) -> None:
    wrong = await db.fetch(
        "SELECT f.facility_id, f.occupied, f.capacity, count(p.placement_id) AS open FROM placement.facilities f"
        " LEFT JOIN placement.placements p ON p.facility_id = f.facility_id AND p.end_date IS NULL"
        " GROUP BY f.facility_id HAVING f.occupied <> count(p.placement_id) OR f.occupied > f.capacity"
    )
    if wrong:
        v.fail("occupancy differs from open placements or exceeds capacity", [dict(r) for r in wrong])
    wijken = await db.fetch(
        "SELECT w.wijk, w.places, w.cap, coalesce(sum(f.capacity), 0) AS capacity FROM placement.wijk_places w"
        " LEFT JOIN placement.facilities f ON f.wijk = w.wijk GROUP BY w.wijk"
        " HAVING w.places <> coalesce(sum(f.capacity), 0) OR w.places > w.cap"
    )
    if wijken:
        v.fail("wijk places differ from capacities or exceed the cap", [dict(r) for r in wijken])
    twice = await db.fetch(  # a guard: the unique index one_open_placement_per_client makes this impossible
        "SELECT client_ref FROM placement.placements WHERE end_date IS NULL GROUP BY 1 HAVING count(*) > 1"
    )
    v.duplicate("open placements of one client", [r["client_ref"] for r in twice])


async def _housing(db: asyncpg.Connection, v: Verdict, region: dict[str, Any]) -> None:
    wrong = await db.fetch(
        "SELECT c.corporation_id, c.municipality, c.year, c.units, c.used, c.reserved,"
        " count(o.offer_id) FILTER (WHERE o.status = 'accepted') AS accepted,"
        " count(o.offer_id) FILTER (WHERE o.status = 'open') AS open"
        " FROM housing.contingents c LEFT JOIN housing.offers o ON (o.corporation_id, o.municipality, o.quota_year)"
        " = (c.corporation_id, c.municipality, c.year) GROUP BY c.corporation_id, c.municipality, c.year"
        " HAVING c.used <> count(o.offer_id) FILTER (WHERE o.status = 'accepted')"
        " OR c.reserved <> count(o.offer_id) FILTER (WHERE o.status = 'open') OR c.used + c.reserved > c.units"
    )
    if wrong:
        v.fail("quota counters differ from offers", [dict(r) for r in wrong])
    housing = region.get("housing", {})
    caps, default = housing.get("wijk_outflow_caps", {}), housing.get("wijk_outflow_cap_default", 12)
    homes = await db.fetch(
        "SELECT wijk, count(*) AS homes FROM housing.offers WHERE status IN ('accepted', 'open') GROUP BY wijk"
    )
    over = [(r["wijk"], r["homes"]) for r in homes if r["homes"] > caps.get(r["wijk"], default)]
    if over:
        v.fail("wijken over their outflow cap", over)


async def _reporting_equals_sources(db: asyncpg.Connection, v: Verdict) -> None:
    pairs = {
        "placements": (
            "SELECT placement_id, facility_id, end_date FROM placement.placements",
            "SELECT placement_id, facility_id, end_date FROM reporting.placements",
        ),
        "offers": (
            "SELECT offer_id, status FROM housing.offers",
            "SELECT offer_id, status FROM reporting.offers",
        ),
        "facilities": (
            "SELECT facility_id, capacity FROM placement.facilities",
            "SELECT facility_id, capacity FROM reporting.facilities",
        ),
        "contingents": (
            "SELECT corporation_id, municipality, year, units FROM housing.contingents",
            "SELECT corporation_id, municipality, quota_year, homes FROM reporting.contingents",
        ),
    }
    for what, (source, projection) in pairs.items():
        here = {tuple(r) for r in await db.fetch(source)}
        there = {tuple(r) for r in await db.fetch(projection)}
        if here != there:
            v.fail(
                f"reporting's {what} differ from the source",
                {"only source": here - there, "only reporting": there - here},
            )


async def _outboxes(db: asyncpg.Connection, v: Verdict, records: list[TopicRecord], prefix: str) -> None:
    """Drained, every row on its topic, and per topic and key the first copies in outbox order."""
    first_at: dict[tuple[str, str], tuple[int, int]] = {}
    for r in records:
        first_at.setdefault((r.topic, r.event_id), (r.partition, r.offset))
    for schema in SCHEMAS:
        waiting = await db.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
        if waiting:
            v.fail(f"{schema}'s outbox not drained", f"{waiting} rows")
        rows = await db.fetch(
            f"SELECT id, event_id, topic, message_key FROM {schema}.outbox WHERE published_at IS NOT NULL"
        )
        missing = [str(r["event_id"]) for r in rows if (r["topic"], str(r["event_id"])) not in first_at]
        v.lose(f"{schema}'s published events (not on their topic)", missing)
        by_key: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
        for r in rows:
            at = first_at.get((r["topic"], str(r["event_id"])))
            if at is not None:
                by_key[(r["topic"], r["message_key"])].append((r["id"], *at))
        for (topic, key), seen in by_key.items():
            in_outbox = [s[0] for s in sorted(seen)]
            on_topic = [s[0] for s in sorted(seen, key=lambda s: (s[1], s[2]))]
            if in_outbox != on_topic or len({s[1] for s in seen}) > 1:
                v.fail("per-key order broken", f"{topic} key {key}: outbox {in_outbox}, topic {on_topic}")
