SET lock_timeout = '2s';
ALTER TABLE product_product ADD CONSTRAINT price_positive CHECK (list_price >= 0);
