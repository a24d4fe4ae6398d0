-- The company's identity provider: what SCIM says about a co-worker beyond what Holdfast keeps
-- on them, SCIM tokens (credential kind 'scim', which open /scim/v2 only), and
-- sign-ins waiting for their second factor (kind 'pending', which open nothing).
ALTER TABLE credentials DROP CONSTRAINT credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check CHECK (kind IN ('session', 'api', 'device', 'scim', 'pending'));
@IDENTITIES@
