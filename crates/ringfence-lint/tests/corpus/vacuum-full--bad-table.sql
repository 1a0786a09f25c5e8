VACUUM FULL mail_message;
