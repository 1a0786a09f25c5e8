-- The linter cannot know whether my_next_code() is volatile, so it assumes it is.
SET lock_timeout = '2s';
ALTER TABLE product_template ADD COLUMN code text DEFAULT my_next_code();
