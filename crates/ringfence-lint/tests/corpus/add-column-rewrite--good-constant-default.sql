-- Since PostgreSQL 11 a constant default is stored once in the catalog.
SET lock_timeout = '2s';
ALTER TABLE sale_order ADD COLUMN is_priority boolean NOT NULL DEFAULT false;
