SET lock_timeout = '2s';
ALTER TABLE res_partner ADD COLUMN nickname varchar(64);
ALTER TABLE res_partner ALTER COLUMN nickname TYPE varchar(32);
