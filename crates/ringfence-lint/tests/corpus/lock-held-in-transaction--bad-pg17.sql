-- ringfence-lint: pg-version=17
BEGIN;
SET LOCAL lock_timeout = '2s';
ALTER TABLE sale_order ADD COLUMN x text;
SELECT count(*) FROM sale_order;
COMMIT;
