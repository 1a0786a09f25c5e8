DROP INDEX IF EXISTS public.stock_move_open_idx;
