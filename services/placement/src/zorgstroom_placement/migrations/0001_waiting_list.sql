-- Placement's own copy of registered clients on the regional waiting list.
CREATE TABLE waiting_list (
    intake_id                text PRIMARY KEY,
    client_ref               text NOT NULL,
    care_form                text NOT NULL,
    responsible_municipality text NOT NULL,
    urgency                  text NOT NULL,
    needs                    text[] NOT NULL,
    preferred_municipalities text[] NOT NULL,
    adults                   integer NOT NULL,
    children                 integer NOT NULL,
    waiting_since            date NOT NULL,
    status                   text NOT NULL DEFAULT 'waiting'
);
CREATE INDEX waiting_list_open ON waiting_list (care_form, responsible_municipality) WHERE status = 'waiting';
