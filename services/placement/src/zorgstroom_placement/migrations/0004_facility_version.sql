-- Each facility's version: raised by one in the statement that registers or changes it, and carried by its
-- FacilityRegistered, so consumers keep the newer facility by version, never by the producers' clocks.
-- Facilities registered before count as version 0 (their events carry none); their next change is version 1.
ALTER TABLE facilities ADD COLUMN version integer NOT NULL DEFAULT 0;
