CLUSTER stock_move USING stock_move_date_idx;
