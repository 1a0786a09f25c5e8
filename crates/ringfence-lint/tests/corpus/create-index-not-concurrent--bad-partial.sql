CREATE INDEX IF NOT EXISTS stock_move_open_idx ON stock_move (product_id) WHERE state <> 'done';
