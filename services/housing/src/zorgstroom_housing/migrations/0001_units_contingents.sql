-- Units corporations offer for outflow, their yearly quotas, and the clients ready for outflow.
CREATE TABLE housing_units (
    unit_id        text PRIMARY KEY,
    corporation_id text NOT NULL,
    municipality   text NOT NULL,
    wijk           text NOT NULL,
    rooms          integer NOT NULL,
    rent_eur       numeric(8, 2) NOT NULL,
    available_from date NOT NULL,
    accessible     boolean NOT NULL,
    status         text NOT NULL DEFAULT 'offered'
);

CREATE TABLE contingents (
    corporation_id text    NOT NULL,
    municipality   text    NOT NULL,
    year           integer NOT NULL,
    units          integer NOT NULL CHECK (units >= 0),
    used           integer NOT NULL DEFAULT 0 CHECK (used >= 0 AND used <= units),
    PRIMARY KEY (corporation_id, municipality, year)
);

CREATE TABLE ready_clients (
    client_ref               text PRIMARY KEY,
    placement_id             text NOT NULL,
    responsible_municipality text NOT NULL,
    ready_since              date NOT NULL
);
