CREATE TABLE tmp_import (id integer, nme text);
ALTER TABLE tmp_import RENAME COLUMN nme TO name;
