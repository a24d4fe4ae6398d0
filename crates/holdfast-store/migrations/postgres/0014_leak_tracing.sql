@LEAK_TRACING@
-- The installation's fingerprint key: random (two version-4 UUIDs), made once, never shown.
INSERT INTO settings (key, value)
VALUES ('fingerprint_key', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''))
ON CONFLICT (key) DO NOTHING;
-- A canary contacted or an export mailed out is a critical alert.
ALTER TABLE alerts DROP CONSTRAINT alerts_severity_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_severity_check CHECK (severity IN ('low', 'medium', 'high', 'critical'));
