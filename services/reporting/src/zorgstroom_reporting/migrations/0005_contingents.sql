-- Each corporation's yearly quota of outflow homes per municipality (HousingContingentAgreed), for quota
-- use against the quota; a quota changes, so the newest publication wins.
CREATE TABLE contingents (
    corporation_id text    NOT NULL,
    municipality   text    NOT NULL,
    quota_year     integer NOT NULL,
    homes          integer NOT NULL,
    occurred_at    timestamptz NOT NULL,
    PRIMARY KEY (corporation_id, municipality, quota_year)
);
