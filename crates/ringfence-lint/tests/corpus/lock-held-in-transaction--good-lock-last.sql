BEGIN;
UPDATE sale_order SET note = '' WHERE note IS NULL AND id < 1000;
SET LOCAL lock_timeout = '2s';
ALTER TABLE sale_order ADD COLUMN is_priority boolean;
COMMIT;
