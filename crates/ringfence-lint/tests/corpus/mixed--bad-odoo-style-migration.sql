-- What a hand-written pre-migration often does in one transaction.
BEGIN;
ALTER TABLE sale_order ADD COLUMN x_margin numeric;
UPDATE sale_order SET x_margin = amount_untaxed - amount_cost;
ALTER TABLE sale_order ALTER COLUMN x_margin SET NOT NULL;
CREATE INDEX sale_order_x_margin_idx ON sale_order (x_margin);
COMMIT;
