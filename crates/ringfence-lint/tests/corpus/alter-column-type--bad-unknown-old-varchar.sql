-- The old type is not in the statement: widening a varchar would be free, anything else rewrites.
SET lock_timeout = '2s';
ALTER TABLE res_partner ALTER COLUMN phone TYPE varchar(64);
