BEGIN;
SET LOCAL lock_timeout = '2s';
ALTER TABLE sale_order ADD COLUMN x text;
ALTER TABLE stock_move ADD COLUMN y text;
COMMIT;
