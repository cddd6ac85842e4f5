-- The key that rounds each base cell of the reports the same way in every query (domain/disclosure.py).
-- Made here, when reporting first starts, and kept in its own schema: no operator secret to manage, and the
-- service role only reads it. It is not part of the projection, so a rebuild keeps it and the published
-- figures stay the same. gen_random_uuid() draws from PostgreSQL's strong random source: two give 244
-- random bits.
CREATE TABLE disclosure_key (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    secret   bytea NOT NULL CHECK (length(secret) >= 32)
);
INSERT INTO disclosure_key (secret)
VALUES (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
