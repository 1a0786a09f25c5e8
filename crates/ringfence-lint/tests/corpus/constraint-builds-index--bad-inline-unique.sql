SET lock_timeout = '2s';
ALTER TABLE res_partner ADD COLUMN vat_key text UNIQUE;
