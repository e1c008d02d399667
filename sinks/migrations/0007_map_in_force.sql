-- The administrative map in force (docs/contract.md, "Administrative units: the map in force").
-- A complaint can move: at the cut-over from the 2021 map, its open complaints go to the unit
-- in force that succeeds their handler. `routes` holds where each complaint is now; the moves
-- are kept in `reassignments`; `first_province_code` and `first_routed_at` say where and when it
-- was first routed.

ALTER TABLE routes ADD COLUMN admin_map text;               -- null: routed before maps were named (2021)
ALTER TABLE routes ADD COLUMN location_in_force jsonb;
ALTER TABLE routes ADD COLUMN first_province_code text;
ALTER TABLE routes ADD COLUMN first_routed_at timestamptz;
UPDATE routes SET first_province_code = province_code, first_routed_at = routed_at;
CREATE INDEX routes_first_province ON routes (first_province_code, recorded_at);

CREATE TABLE reassignments (
    complaint_id        text NOT NULL,
    routed_at           timestamptz NOT NULL,   -- when it moved (the new route's routed_at)
    reason              text NOT NULL,          -- cutover | revocation
    from_topic          text NOT NULL,
    from_province       text,
    from_handler_level  text NOT NULL,
    from_handler_unit   text NOT NULL,
    to_topic            text NOT NULL,
    to_province         text,
    to_handler_level    text NOT NULL,
    to_handler_unit     text NOT NULL,
    stored_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (complaint_id, routed_at)
);

-- Every province code of any list and the province of the map in force that holds it: data of
-- schemas/admin_units.py, copied here by the sink at every start (sinks/units.py), so that the
-- reports and the console group by the province in force without a rule of their own.
CREATE TABLE provinces (
    code            text PRIMARY KEY,
    name            text NOT NULL,
    in_force        text NOT NULL,
    in_force_name   text NOT NULL,
    admin_map       text NOT NULL
);
CREATE INDEX provinces_in_force ON provinces (in_force);

-- Under the map of 2025 a delegation is to a commune and names no district.
ALTER TABLE delegations ALTER COLUMN district_code DROP NOT NULL;
