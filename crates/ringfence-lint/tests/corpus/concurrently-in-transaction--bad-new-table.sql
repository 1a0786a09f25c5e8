-- A new table is exempt from the lock rules, but CONCURRENTLY still fails inside BEGIN … COMMIT.
BEGIN;
CREATE TABLE loyalty_event (id bigint, card_id integer);
CREATE INDEX CONCURRENTLY loyalty_event_card_idx ON loyalty_event (card_id);
COMMIT;
