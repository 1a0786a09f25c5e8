VACUUM (FULL, ANALYZE) stock_move_line;
