CREATE UNIQUE INDEX partner_ref_idx ON res_partner (ref);
