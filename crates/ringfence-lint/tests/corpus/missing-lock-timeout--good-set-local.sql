BEGIN;
SET LOCAL lock_timeout = '2s';
ALTER TABLE sale_order ADD COLUMN is_priority boolean DEFAULT false;
COMMIT;
