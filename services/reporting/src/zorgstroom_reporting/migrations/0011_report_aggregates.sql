-- Reports kept as aggregates, maintained as events arrive (domain/aggregates.py, projections/kept.py), so that a
-- report reads a few hundred rows whatever the history. `care_form` and `detail` are '' where a fact has none.
-- flow_cells: tallies per base cell (municipality, month, column, care form, detail); for a stock, the sum of its
-- clients' keys (the additive coin of domain/disclosure.py), and the rounded value a protected viewer sees.
CREATE TABLE flow_cells (
    municipality text    NOT NULL,
    month        date    NOT NULL,
    col          text    NOT NULL,
    care_form    text    NOT NULL,
    detail       text    NOT NULL,
    n            integer NOT NULL,
    client_keys  numeric NOT NULL,
    shown        integer NOT NULL,
    PRIMARY KEY (municipality, month, col, care_form, detail)
);
CREATE INDEX flow_cells_by_month ON flow_cells (month, col);
-- The days behind the measures (waiting, stay, waiting now, ready not housed) as histograms, and per scope
-- (total, group:BW|MO, form:<care form>) their number, median and p90, recomputed for the keys a batch touches.
CREATE TABLE flow_days (
    municipality text    NOT NULL,
    month        date    NOT NULL,
    col          text    NOT NULL,
    care_form    text    NOT NULL,
    days         integer NOT NULL,
    n            integer NOT NULL,
    PRIMARY KEY (municipality, month, col, care_form, days)
);
CREATE TABLE flow_measures (
    municipality text    NOT NULL,
    month        date    NOT NULL,
    col          text    NOT NULL,
    scope        text    NOT NULL,
    n            integer NOT NULL,
    median       double precision,
    p90          double precision,
    PRIMARY KEY (municipality, month, col, scope)
);
-- The solidarity matrix per responsible x facility municipality, month and care form: placements started,
-- client-days of closed months, the keys of who stayed, and the rounded figures.
CREATE TABLE matrix_cells (
    responsible           text    NOT NULL,
    facility_municipality text    NOT NULL,
    month                 date    NOT NULL,
    care_form             text    NOT NULL,
    placements            integer NOT NULL,
    inflow                integer NOT NULL,
    client_days           integer NOT NULL,
    stayed_keys           numeric NOT NULL,
    shown_first           integer NOT NULL,
    shown_onward          integer NOT NULL,
    shown_days            integer NOT NULL,
    PRIMARY KEY (responsible, facility_municipality, month, care_form)
);
CREATE INDEX matrix_cells_by_month ON matrix_cells (month);
-- How many facts name a municipality as responsible (the region report lists those outside the region).
CREATE TABLE responsible_named (
    municipality text PRIMARY KEY,
    facts        integer NOT NULL
);
-- The month states are kept up to. No row until the aggregates are first derived from the facts (the first batch
-- or report after this migration does it, as a rebuild does).
CREATE TABLE report_horizon (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    month    date NOT NULL
);
-- A batch's clients' facts are read by client.
CREATE INDEX registrations_by_client ON registrations (client_ref);
CREATE INDEX outflows_by_client ON outflows (client_ref);
CREATE INDEX withdrawals_by_client ON withdrawals (client_ref);
CREATE INDEX placements_by_intake ON placements (intake_id);
-- Yearly sums of the monthly cells' counts and rounded values (kept with them by the same deltas): a period of
-- ten years reads ten rows per cell, not 120. Only the breakdowns (ended_other, doorstroom) keep their detail.
CREATE TABLE flow_cells_yearly (
    municipality text    NOT NULL,
    year         integer NOT NULL,
    col          text    NOT NULL,
    care_form    text    NOT NULL,
    detail       text    NOT NULL,
    n            integer NOT NULL,
    shown        integer NOT NULL,
    PRIMARY KEY (municipality, year, col, care_form, detail)
);
CREATE TABLE matrix_yearly (
    responsible           text    NOT NULL,
    facility_municipality text    NOT NULL,
    year                  integer NOT NULL,
    shown_first           integer NOT NULL,
    shown_onward          integer NOT NULL,
    shown_days            integer NOT NULL,
    PRIMARY KEY (responsible, facility_municipality, year)
);
