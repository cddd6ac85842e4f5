"""What a provider sees on its own topic, read as the provider's principal in a group of its own."""

import json
import uuid

from aiokafka import AIOKafkaConsumer

from zorgstroom_contracts import provider_topic
from zorgstroom_runtime.kafka import KafkaConnection


async def read_provider_topic(connection: KafkaConnection, agb: str, count: int, timeout_ms: int = 5000) -> list[str]:
    """One line per event: type, business data that matters to the provider, and the key (client_ref)."""
    consumer = AIOKafkaConsumer(
        provider_topic(agb),
        **connection.options(),
        group_id=f"provider-{agb}-cli-{uuid.uuid4().hex[:8]}",  # a fresh group: always from the start
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    lines: list[str] = []
    try:
        while len(lines) < count:
            batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=count)
            if not batches:
                break
            for records in batches.values():
                for record in records:
                    envelope = json.loads(record.value)
                    data = envelope["data"]
                    facts = {
                        k: data[k] for k in ("facility_id", "start_date", "end_date", "reason", "ready") if k in data
                    }
                    lines.append(f"{envelope['event_type']:<26} {json.dumps(facts)}  key={record.key.decode()[:12]}…")
    finally:
        await consumer.stop()
    return lines[:count]
