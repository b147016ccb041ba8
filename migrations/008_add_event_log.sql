-- The event log (SPEC section 10): one row per committed change, written in the change's own
-- transaction by the shared SQL layer (registry_core.events).
--  * mr_events.id is the feed's number: 1, 2, 3, ... in commit order, taken from the one row
--    of mr_event_feed, which each change bumps as its last statement before COMMIT (its row
--    lock queues writers there, so an id is handed out only after the previous one committed).
--  * model_id is the model's row (renames keep it; history(name) follows it); name is the
--    model's name when it happened, so a deleted model's events stay findable by name.
--  * detail is JSON: what changed, with the value before and after.
--  * origin_registry/origin_id: where a copied event first happened (NULL for local ones);
--    unique, so that a copy run again writes no event twice.
--  * mr_consumers: a named consumer's position in the feed (acknowledge()).
CREATE TABLE mr_events (
    id BIGINT NOT NULL PRIMARY KEY,
    happened_at {{timestamp}} NOT NULL,
    actor {{name}} NOT NULL,
    action {{name}} NOT NULL,
    model_id {{id_ref}},
    name {{name}} NOT NULL,
    version {{version}},
    detail {{text}} NOT NULL,
    origin_registry {{name}},
    origin_id BIGINT
){{table_options}};

CREATE INDEX idx_mr_events_model ON mr_events(model_id, id);
CREATE INDEX idx_mr_events_name ON mr_events(name, id);
CREATE UNIQUE INDEX idx_mr_events_origin ON mr_events(origin_registry, origin_id);

CREATE TABLE mr_event_feed (
    id INTEGER NOT NULL PRIMARY KEY,
    last_id BIGINT NOT NULL
){{table_options}};

INSERT INTO mr_event_feed (id, last_id) VALUES (1, 0) {{if_absent:id}};

CREATE TABLE mr_consumers (
    name {{name}} NOT NULL PRIMARY KEY,
    acknowledged BIGINT NOT NULL,
    updated_at {{timestamp}} NOT NULL
){{table_options}};
