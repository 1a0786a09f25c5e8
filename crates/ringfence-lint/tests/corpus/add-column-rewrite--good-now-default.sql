-- now() is stable: evaluated once for all existing rows.
SET lock_timeout = '2s';
ALTER TABLE sale_order ADD COLUMN imported_at timestamptz DEFAULT now();
