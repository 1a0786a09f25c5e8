REINDEX TABLE stock_move;
