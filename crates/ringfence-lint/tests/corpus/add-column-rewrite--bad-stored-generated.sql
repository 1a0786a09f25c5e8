SET lock_timeout = '2s';
ALTER TABLE account_move_line
    ADD COLUMN balance_abs numeric GENERATED ALWAYS AS (abs(balance)) STORED;
