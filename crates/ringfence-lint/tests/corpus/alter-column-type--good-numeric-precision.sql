SET lock_timeout = '2s';
ALTER TABLE sale_order ADD COLUMN margin numeric(10,2);
ALTER TABLE sale_order ALTER COLUMN margin TYPE numeric(14,2);
