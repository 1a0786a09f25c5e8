-- A random UUID default is computed per row: table rewrite.
SET lock_timeout = '2s';
ALTER TABLE sale_order ADD COLUMN token uuid DEFAULT gen_random_uuid();
