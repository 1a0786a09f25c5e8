SET lock_timeout = '2s';
ALTER TABLE res_partner DROP COLUMN fax;
