SET lock_timeout = '2s';
ALTER TABLE res_partner ADD COLUMN loyalty_tier varchar(16);
