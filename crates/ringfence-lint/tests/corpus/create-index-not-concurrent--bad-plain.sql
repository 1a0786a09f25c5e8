CREATE INDEX sale_order_date_idx ON sale_order (date_order);
