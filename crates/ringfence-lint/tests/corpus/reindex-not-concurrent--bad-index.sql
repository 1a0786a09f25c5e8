REINDEX INDEX sale_order_date_idx;
