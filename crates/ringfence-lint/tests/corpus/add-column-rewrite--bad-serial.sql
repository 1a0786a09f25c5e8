SET lock_timeout = '2s';
ALTER TABLE res_partner ADD COLUMN legacy_no bigserial;
