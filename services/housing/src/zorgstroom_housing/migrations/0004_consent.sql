-- Consent to share with housing corporations (docs/domain.md, rule 14): the dated fact in force, from a
-- registration or recorded later; without consent no corporation offer is made. NULL: never told, no consent.
ALTER TABLE clients ADD COLUMN consent_to_share boolean;
ALTER TABLE clients ADD COLUMN consent_on date;
ALTER TABLE clients ADD COLUMN consent_recorded boolean;  -- recorded by the municipality, not a registration's
