SET lock_timeout = '2s';
ALTER TABLE sale_order_option RENAME TO sale_order_extra;
