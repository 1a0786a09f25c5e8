-- PostgreSQL 12+: a valid CHECK (col IS NOT NULL) lets SET NOT NULL skip its scan.
SET lock_timeout = '2s';
ALTER TABLE sale_order ADD CONSTRAINT partner_nn CHECK (partner_id IS NOT NULL) NOT VALID;
ALTER TABLE sale_order VALIDATE CONSTRAINT partner_nn;
ALTER TABLE sale_order ALTER COLUMN partner_id SET NOT NULL;
ALTER TABLE sale_order DROP CONSTRAINT partner_nn;
