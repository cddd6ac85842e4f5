-- One event may be written to more than one topic (a provider's own topic carries a copy of every
-- event about its clients, with the same event_id so that consumers deduplicate across both).
ALTER TABLE outbox DROP CONSTRAINT outbox_event_id_key;
ALTER TABLE outbox ADD CONSTRAINT outbox_event_id_topic_key UNIQUE (event_id, topic);
