SET lock_timeout = '2s';
ALTER TABLE resource_booking ADD CONSTRAINT no_overlap
    EXCLUDE USING gist (resource_id WITH =, period WITH &&);
