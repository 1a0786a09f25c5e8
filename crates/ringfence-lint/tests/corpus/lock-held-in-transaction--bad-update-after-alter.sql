BEGIN;
SET LOCAL lock_timeout = '2s';
ALTER TABLE sale_order ADD COLUMN is_priority boolean;
UPDATE sale_order SET is_priority = amount_total > 10000;
COMMIT;
