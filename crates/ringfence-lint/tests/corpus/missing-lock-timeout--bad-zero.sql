SET lock_timeout = 0;
TRUNCATE sale_report_cache;
