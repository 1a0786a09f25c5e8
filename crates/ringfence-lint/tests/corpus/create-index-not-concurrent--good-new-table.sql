CREATE TABLE pos_session_log (id bigint, session_id integer, at timestamptz);
CREATE INDEX pos_session_log_session_idx ON pos_session_log (session_id);
