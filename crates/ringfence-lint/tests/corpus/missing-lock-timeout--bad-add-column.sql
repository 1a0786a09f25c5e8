ALTER TABLE sale_order ADD COLUMN is_priority boolean DEFAULT false;
