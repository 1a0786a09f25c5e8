SET lock_timeout = '2s';
ALTER TABLE res_partner RENAME COLUMN mobile TO mobile_phone;
