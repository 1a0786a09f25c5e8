-- A table created in the same script is empty: nothing to rewrite or block.
CREATE TABLE loyalty_card (id serial PRIMARY KEY, partner_id integer);
ALTER TABLE loyalty_card ADD COLUMN token uuid DEFAULT gen_random_uuid();
