-- Accent- and case-insensitive search over the question bank, backed by a trigram index.
-- unaccent is not IMMUTABLE (its dictionary could change), so it is wrapped; the search_path
-- covers both where this project creates it (public) and where Supabase keeps it (extensions).
CREATE OR REPLACE FUNCTION public.search_text(value TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
SET search_path = public, extensions, pg_catalog
AS $$ SELECT lower(unaccent('unaccent', value)) $$;

CREATE INDEX questions_search_trgm_idx
    ON questions USING gin (public.search_text(question) gin_trgm_ops);
CREATE INDEX questions_topic_search_trgm_idx
    ON questions USING gin (public.search_text(coalesce(topic, '')) gin_trgm_ops);

-- One active study session per student at a time, found quickly.
CREATE UNIQUE INDEX study_sessions_one_active_idx
    ON study_sessions (user_id) WHERE status = 'active';
