SET lock_timeout = '2s';
ALTER TABLE mail_tracking_value ADD CONSTRAINT mail_tracking_value_pkey PRIMARY KEY USING INDEX mtv_id_idx;
