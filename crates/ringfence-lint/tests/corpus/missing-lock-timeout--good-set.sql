SET lock_timeout TO '3s';
ALTER TABLE sale_order ADD COLUMN is_priority boolean DEFAULT false;
