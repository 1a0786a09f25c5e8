BEGIN;
SET LOCAL lock_timeout = '2s';
ALTER TABLE sale_order ADD COLUMN a text;
COMMIT;
ALTER TABLE sale_order ADD COLUMN b text;
