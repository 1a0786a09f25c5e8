VACUUM (ANALYZE) mail_message;
