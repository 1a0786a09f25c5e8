SET lock_timeout = '2s';
ALTER TABLE stock_move ADD COLUMN touched_at timestamptz DEFAULT clock_timestamp();
