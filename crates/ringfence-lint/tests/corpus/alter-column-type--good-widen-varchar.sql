-- The column's type is known from the ADD COLUMN above: widening a varchar needs no rewrite.
SET lock_timeout = '2s';
ALTER TABLE res_partner ADD COLUMN nickname varchar(32);
ALTER TABLE res_partner ALTER COLUMN nickname TYPE varchar(64);
