SELECT id, name FROM res_partner WHERE active;
INSERT INTO ir_config_parameter (key, value) VALUES ('x', 'y');
