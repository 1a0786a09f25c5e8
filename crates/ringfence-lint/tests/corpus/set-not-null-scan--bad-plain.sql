SET lock_timeout = '2s';
ALTER TABLE sale_order ALTER COLUMN partner_id SET NOT NULL;
