SET lock_timeout = '2s';
ALTER TABLE sale_order ALTER COLUMN amount_total TYPE numeric(16,2) USING amount_total::numeric(16,2);
