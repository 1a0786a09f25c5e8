-- Renaming an index changes no query the old release sends.
ALTER INDEX sale_order_date_idx RENAME TO sale_order_date_order_idx;
