-- VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE: reads and writes go on.
ALTER TABLE sale_order_line VALIDATE CONSTRAINT sol_order_fk;
