SET lock_timeout = '2s';
ALTER TABLE res_partner ADD COLUMN nickname varchar(32);
ALTER TABLE res_partner ALTER COLUMN nickname TYPE text;
