@CONTACT_PROTOCOL@
CREATE INDEX deals_search ON deals USING gin (to_tsvector('simple', search_text));
