-- Indexes for every lookup the services make. Unique constraints of 001 already index
-- ai_answers.question_hash, questions.code, profiles.email, subscription_plans.name and
-- user_progress (user_id, subject).

-- Question bank: browse by subject and topic, filter by difficulty, most likely first.
CREATE INDEX questions_subject_topic_idx ON questions (subject, topic);
CREATE INDEX questions_subject_probability_idx
    ON questions (subject, exam_probability DESC, code);
CREATE INDEX questions_tags_idx ON questions USING gin (tags);

-- Similar-question search (pg_trgm similarity over the normalized question).
CREATE INDEX ai_answers_normalized_trgm_idx
    ON ai_answers USING gin (normalized_question gin_trgm_ops);
CREATE INDEX questions_question_trgm_idx ON questions USING gin (question gin_trgm_ops);

-- A student's history, newest first.
CREATE INDEX interactions_user_created_idx ON interactions (user_id, created_at DESC);
CREATE INDEX interactions_session_idx ON interactions (session_id);
CREATE INDEX interactions_answer_idx ON interactions (answer_id);
CREATE INDEX interactions_question_idx ON interactions (question_id);
CREATE INDEX study_sessions_user_started_idx ON study_sessions (user_id, started_at DESC);
CREATE INDEX credit_usage_user_created_idx ON credit_usage (user_id, created_at DESC);
CREATE INDEX credit_usage_interaction_idx ON credit_usage (interaction_id);

-- The active subscription of a user.
CREATE INDEX user_subscriptions_user_status_idx ON user_subscriptions (user_id, status);
CREATE INDEX user_subscriptions_plan_idx ON user_subscriptions (plan_id);

-- Canvas templates are referenced by name from answer steps.
CREATE UNIQUE INDEX canvas_library_name_idx ON canvas_library (name);
CREATE INDEX canvas_library_category_idx ON canvas_library (category);
