BEGIN;
SET LOCAL lock_timeout = '2s';
ALTER TABLE sale_order ADD COLUMN note2 text;
COMMIT;
CREATE INDEX CONCURRENTLY sale_order_note2_idx ON sale_order (note2);
