-- The ten tables of the design (section 4), on gen_random_uuid() instead of uuid-ossp.
-- auth.users belongs to Supabase (locally: migrations/local/000_auth_shim.sql).

CREATE EXTENSION IF NOT EXISTS pg_trgm;   -- similar-question search
CREATE EXTENSION IF NOT EXISTS unaccent;  -- accent-insensitive search in SQL

-- =========================================
-- Core tables
-- =========================================

CREATE TABLE profiles (
    id UUID PRIMARY KEY REFERENCES auth.users(id) ON DELETE CASCADE,
    email TEXT UNIQUE,
    full_name TEXT,
    avatar_url TEXT,

    plan_type TEXT DEFAULT 'free' CHECK (plan_type IN ('free', 'basic', 'premium', 'pro')),
    credits_remaining INTEGER DEFAULT 10 CHECK (credits_remaining >= 0),
    credits_total INTEGER DEFAULT 10 CHECK (credits_total >= 0),
    daily_limit INTEGER DEFAULT 5 CHECK (daily_limit >= 0),
    daily_used INTEGER DEFAULT 0 CHECK (daily_used >= 0),
    last_reset_date DATE DEFAULT CURRENT_DATE,

    preferred_language TEXT DEFAULT 'es',
    learning_level TEXT DEFAULT 'medium' CHECK (learning_level IN ('basic', 'medium', 'advanced')),

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE questions (
    id UUID DEFAULT gen_random_uuid() PRIMARY KEY,

    code TEXT UNIQUE NOT NULL,          -- e.g. "2024Algebra14"
    subject TEXT NOT NULL,              -- algebra, calculo, fisica, ...
    topic TEXT,
    difficulty TEXT DEFAULT 'medium' CHECK (difficulty IN ('easy', 'medium', 'hard')),

    question TEXT NOT NULL,
    options JSONB NOT NULL,             -- {"a": "...", "b": "...", "c": "...", "d": "..."}
    correct_answer TEXT NOT NULL,
    explanation TEXT,

    use_latex BOOLEAN DEFAULT FALSE,

    times_seen INTEGER DEFAULT 0 CHECK (times_seen >= 0),
    times_correct INTEGER DEFAULT 0 CHECK (times_correct >= 0),
    exam_probability NUMERIC(3,2) DEFAULT 0.50 CHECK (exam_probability BETWEEN 0 AND 1),

    tags TEXT[] DEFAULT '{}',
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CHECK (jsonb_typeof(options) = 'object'),
    CHECK (options ? correct_answer)
);

CREATE TABLE ai_answers (
    id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
    question_hash TEXT UNIQUE NOT NULL,  -- SHA256 of the normalized question
    question_text TEXT NOT NULL,
    -- The normalized text the hash is made of: similar-question search runs on it.
    normalized_question TEXT NOT NULL,

    answer_steps JSONB NOT NULL,         -- the steps of the answer document
    total_duration INTEGER DEFAULT 60 CHECK (total_duration > 0),
    subject TEXT,

    usage_count INTEGER DEFAULT 0 CHECK (usage_count >= 0),
    helpful_votes INTEGER DEFAULT 0 CHECK (helpful_votes >= 0),
    total_votes INTEGER DEFAULT 0 CHECK (total_votes >= helpful_votes),

    generated_by TEXT DEFAULT 'manual',  -- manual or the model's name
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CHECK (question_hash ~ '^[0-9a-f]{64}$'),
    CHECK (jsonb_typeof(answer_steps) = 'array')
);

CREATE TABLE interactions (
    id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id UUID REFERENCES auth.users(id) ON DELETE CASCADE,
    session_id TEXT,

    question_text TEXT NOT NULL,
    question_type TEXT DEFAULT 'text' CHECK (question_type IN ('text', 'voice', 'exam')),
    answer_id UUID REFERENCES ai_answers(id) ON DELETE SET NULL,
    question_id UUID REFERENCES questions(id) ON DELETE SET NULL,

    response_time_ms INTEGER CHECK (response_time_ms >= 0),
    credits_used INTEGER DEFAULT 1 CHECK (credits_used >= 0),
    completed BOOLEAN DEFAULT TRUE,

    rating INTEGER CHECK (rating BETWEEN 1 AND 5),
    understood BOOLEAN,
    seen_in_exam BOOLEAN DEFAULT FALSE,

    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE study_sessions (
    id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id UUID REFERENCES auth.users(id) ON DELETE CASCADE,

    session_type TEXT DEFAULT 'practice' CHECK (session_type IN ('practice', 'exam', 'review')),
    status TEXT DEFAULT 'active' CHECK (status IN ('active', 'completed', 'abandoned')),

    questions_asked INTEGER DEFAULT 0 CHECK (questions_asked >= 0),
    questions_answered INTEGER DEFAULT 0 CHECK (questions_answered >= 0),
    correct_answers INTEGER DEFAULT 0 CHECK (correct_answers >= 0),
    total_duration_seconds INTEGER DEFAULT 0 CHECK (total_duration_seconds >= 0),

    started_at TIMESTAMPTZ DEFAULT NOW(),
    ended_at TIMESTAMPTZ,

    metadata JSONB DEFAULT '{}'::jsonb
);

CREATE TABLE user_progress (
    id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id UUID REFERENCES auth.users(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,

    total_practiced INTEGER DEFAULT 0 CHECK (total_practiced >= 0),
    total_correct INTEGER DEFAULT 0 CHECK (total_correct >= 0),
    mastery_level NUMERIC(3,2) DEFAULT 0.00 CHECK (mastery_level BETWEEN 0 AND 1),
    streak_days INTEGER DEFAULT 0 CHECK (streak_days >= 0),

    last_practice_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    UNIQUE (user_id, subject)
);

CREATE TABLE credit_usage (
    id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id UUID REFERENCES auth.users(id) ON DELETE CASCADE,

    -- 'refund' records a credit given back (a failed generation).
    action_type TEXT NOT NULL
        CHECK (action_type IN ('ai_question', 'voice', 'premium_feature', 'refund', 'grant')),
    credits_used INTEGER NOT NULL,
    credits_before INTEGER NOT NULL CHECK (credits_before >= 0),
    credits_after INTEGER NOT NULL CHECK (credits_after >= 0),

    interaction_id UUID REFERENCES interactions(id) ON DELETE SET NULL,
    details JSONB DEFAULT '{}'::jsonb,

    created_at TIMESTAMPTZ DEFAULT NOW(),

    CHECK (credits_after = credits_before - credits_used)
);

CREATE TABLE subscription_plans (
    id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,

    monthly_credits INTEGER NOT NULL CHECK (monthly_credits >= 0),
    daily_limit INTEGER NOT NULL CHECK (daily_limit >= 0),

    features JSONB DEFAULT '{}'::jsonb,

    price_monthly NUMERIC(10,2) DEFAULT 0 CHECK (price_monthly >= 0),
    price_yearly NUMERIC(10,2) DEFAULT 0 CHECK (price_yearly >= 0),

    is_active BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE user_subscriptions (
    id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id UUID REFERENCES auth.users(id) ON DELETE CASCADE,
    plan_id UUID REFERENCES subscription_plans(id),

    status TEXT DEFAULT 'active' CHECK (status IN ('active', 'cancelled', 'expired', 'trial')),

    started_at TIMESTAMPTZ DEFAULT NOW(),
    ends_at TIMESTAMPTZ,

    stripe_subscription_id TEXT,

    CHECK (ends_at IS NULL OR ends_at > started_at)
);

CREATE TABLE canvas_library (
    id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,

    commands JSONB NOT NULL,

    tags TEXT[] DEFAULT '{}',
    usage_count INTEGER DEFAULT 0 CHECK (usage_count >= 0),

    created_at TIMESTAMPTZ DEFAULT NOW()
);

-- =========================================
-- updated_at maintained by the database, whoever writes the row
-- =========================================

CREATE OR REPLACE FUNCTION public.set_updated_at() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := NOW();
    RETURN NEW;
END
$$;

CREATE TRIGGER profiles_set_updated_at BEFORE UPDATE ON profiles
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER questions_set_updated_at BEFORE UPDATE ON questions
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER ai_answers_set_updated_at BEFORE UPDATE ON ai_answers
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER user_progress_set_updated_at BEFORE UPDATE ON user_progress
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- =========================================
-- A profile for every new auth user (the standard Supabase pattern)
-- =========================================

-- profiles.email is unique; an address another profile still holds (an old address of someone
-- who changed it, or the same person through another provider) is left off the new profile
-- rather than leaving the new user without a profile.
CREATE OR REPLACE FUNCTION public.handle_new_user() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    INSERT INTO public.profiles (id, email, full_name, avatar_url)
    VALUES (
        NEW.id,
        CASE WHEN EXISTS (SELECT 1 FROM public.profiles WHERE email = NEW.email)
             THEN NULL ELSE NEW.email END,
        NEW.raw_user_meta_data ->> 'full_name',
        COALESCE(NEW.raw_user_meta_data ->> 'avatar_url', NEW.raw_user_meta_data ->> 'picture')
    )
    ON CONFLICT (id) DO NOTHING;
    RETURN NEW;
END
$$;

CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
    FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();

-- Keep the profile's email in step with the account's, releasing the old address.
CREATE OR REPLACE FUNCTION public.handle_user_email_change() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    UPDATE public.profiles SET email = NULL WHERE email = NEW.email AND id <> NEW.id;
    UPDATE public.profiles SET email = NEW.email WHERE id = NEW.id;
    RETURN NEW;
END
$$;

CREATE TRIGGER on_auth_user_email_changed AFTER UPDATE OF email ON auth.users
    FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email)
    EXECUTE FUNCTION public.handle_user_email_change();

-- =========================================
-- Row Level Security: PostgREST exposes public tables to anyone with the anon key.
-- The backend connects as the owner and is not subject to these policies.
-- =========================================

ALTER TABLE profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE questions ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_answers ENABLE ROW LEVEL SECURITY;
ALTER TABLE interactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE study_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE credit_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscription_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE canvas_library ENABLE ROW LEVEL SECURITY;

-- Owners read their own rows; every write goes through the backend, which owns the rules
-- (credits, limits, progress). No INSERT/DELETE policy means RLS refuses them.
CREATE POLICY profiles_select_own ON profiles
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = id);
CREATE POLICY profiles_update_own ON profiles
    FOR UPDATE TO authenticated
    USING ((SELECT auth.uid()) = id) WITH CHECK ((SELECT auth.uid()) = id);
-- A student may edit their presentation fields, never credits, limits or plan.
REVOKE UPDATE ON profiles FROM anon, authenticated;
GRANT UPDATE (full_name, avatar_url, preferred_language, learning_level)
    ON profiles TO authenticated;

CREATE POLICY interactions_select_own ON interactions
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY study_sessions_select_own ON study_sessions
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY user_progress_select_own ON user_progress
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY credit_usage_select_own ON credit_usage
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY user_subscriptions_select_own ON user_subscriptions
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);

-- questions (with their correct answers), ai_answers (the lessons credits pay for) and
-- canvas_library have no policy: only the backend reads them, under its own rules.
-- Plans are public: the pricing page needs them before sign-in.
CREATE POLICY subscription_plans_select_active ON subscription_plans
    FOR SELECT TO anon, authenticated USING (is_active);
