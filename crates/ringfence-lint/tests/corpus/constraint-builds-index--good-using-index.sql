-- The index was built beforehand with CREATE UNIQUE INDEX CONCURRENTLY.
SET lock_timeout = '2s';
ALTER TABLE res_partner ADD CONSTRAINT partner_ref_uniq UNIQUE USING INDEX partner_ref_idx;
