SET lock_timeout = '2s';
ALTER TABLE mail_tracking_value ADD PRIMARY KEY (id);
