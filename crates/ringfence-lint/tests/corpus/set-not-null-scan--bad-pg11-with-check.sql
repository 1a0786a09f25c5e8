-- ringfence-lint: pg-version=11
-- PostgreSQL 11 ignores the validated CHECK and scans anyway.
SET lock_timeout = '2s';
ALTER TABLE sale_order ADD CONSTRAINT partner_nn CHECK (partner_id IS NOT NULL) NOT VALID;
ALTER TABLE sale_order VALIDATE CONSTRAINT partner_nn;
ALTER TABLE sale_order ALTER COLUMN partner_id SET NOT NULL;
