SET lock_timeout = '2s';
ALTER TABLE sale_order ALTER COLUMN date_order TYPE timestamptz;
