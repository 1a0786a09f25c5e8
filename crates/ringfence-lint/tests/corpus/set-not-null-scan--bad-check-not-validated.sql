-- The CHECK is NOT VALID and never validated, so SET NOT NULL still scans.
SET lock_timeout = '2s';
ALTER TABLE sale_order ADD CONSTRAINT partner_nn CHECK (partner_id IS NOT NULL) NOT VALID;
ALTER TABLE sale_order ALTER COLUMN partner_id SET NOT NULL;
