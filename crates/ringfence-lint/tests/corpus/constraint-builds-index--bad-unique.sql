SET lock_timeout = '2s';
ALTER TABLE res_partner ADD CONSTRAINT partner_ref_uniq UNIQUE (ref);
