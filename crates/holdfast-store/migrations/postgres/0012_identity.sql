-- The company's identity provider (SCIM): what it says about a co-worker beyond what Holdfast keeps
-- on them, and SCIM tokens (credential kind 'scim', which open /scim/v2 only).
ALTER TABLE credentials DROP CONSTRAINT credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check CHECK (kind IN ('session', 'api', 'device', 'scim'));
@IDENTITIES@
