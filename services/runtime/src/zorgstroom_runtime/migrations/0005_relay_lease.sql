-- The outbox relay's leadership and its rows Kafka refuses.
-- One row: the relay that publishes this schema's outbox. Each new holder takes a higher epoch, and a
-- holder renews its lease only while the epoch is still its own (relay_lease.py).
CREATE TABLE relay_lease (
    only_row   boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    holder     text        NOT NULL,
    epoch      bigint      NOT NULL,
    expires_at timestamptz NOT NULL
);
-- A row Kafka refuses for what it is (too large for the broker) is counted, and parked after a few
-- refusals: later rows of its (topic, key) wait behind it, rows of other keys go on.
ALTER TABLE outbox
    ADD COLUMN send_failures   integer NOT NULL DEFAULT 0,
    ADD COLUMN last_send_error text,
    ADD COLUMN parked_at       timestamptz;
CREATE INDEX outbox_parked ON outbox (topic, message_key, id) WHERE parked_at IS NOT NULL AND published_at IS NULL;
