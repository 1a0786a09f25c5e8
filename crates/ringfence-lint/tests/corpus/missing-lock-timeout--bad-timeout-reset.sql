SET lock_timeout = '2s';
RESET lock_timeout;
ALTER TABLE sale_order ALTER COLUMN note SET DEFAULT '';
