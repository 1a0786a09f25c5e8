SET lock_timeout = '2s';
ALTER TABLE stock_move ADD COLUMN carrier_id integer REFERENCES delivery_carrier (id);
