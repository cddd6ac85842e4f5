-- Each quota's version: raised by one in the statement that agrees or changes it, and carried by its
-- HousingContingentAgreed, so consumers keep the newer quota by version, never by the producers' clocks.
-- Quotas agreed before count as version 0 (their events carry none); their next change is version 1.
ALTER TABLE contingents ADD COLUMN version integer NOT NULL DEFAULT 0;
