CREATE TABLE tmp_move_ids (id integer);
INSERT INTO tmp_move_ids SELECT id FROM stock_move WHERE state = 'cancel';
DROP TABLE tmp_move_ids;
