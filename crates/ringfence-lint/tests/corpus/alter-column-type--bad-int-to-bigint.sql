SET lock_timeout = '2s';
ALTER TABLE stock_quant ALTER COLUMN id TYPE bigint;
