-- A password someone else chose (an admin's reset, a generated first password) must be changed by
-- its owner at their next sign-in.
ALTER TABLE coworkers ADD COLUMN password_must_change BIGINT NOT NULL DEFAULT 0;
