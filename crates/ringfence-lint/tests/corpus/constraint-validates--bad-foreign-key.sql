SET lock_timeout = '2s';
ALTER TABLE sale_order_line ADD CONSTRAINT sol_order_fk
    FOREIGN KEY (order_id) REFERENCES sale_order (id);
