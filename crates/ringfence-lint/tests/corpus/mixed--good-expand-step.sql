-- The safe shape: short locks with a timeout, each in its own transaction, index built concurrently.
SET lock_timeout = '2s';
ALTER TABLE sale_order ADD COLUMN x_margin numeric;
ALTER TABLE sale_order ADD CONSTRAINT x_margin_nn CHECK (x_margin IS NOT NULL) NOT VALID;
CREATE INDEX CONCURRENTLY sale_order_x_margin_idx ON sale_order (x_margin);
