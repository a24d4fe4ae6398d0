-- A browser that signed in is remembered by a device credential (kind 'device'), so that other
-- people's password guesses never hold it back.
ALTER TABLE credentials DROP CONSTRAINT credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check CHECK (kind IN ('session', 'api', 'device'));
