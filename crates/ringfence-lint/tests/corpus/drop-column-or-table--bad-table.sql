SET lock_timeout = '2s';
DROP TABLE IF EXISTS sale_order_legacy;
