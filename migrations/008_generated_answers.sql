-- Generated answers carry the prompt version that wrote them (so a new prompt can regenerate
-- older answers deliberately) and what the checks of their mathematics found.
ALTER TABLE ai_answers
    ADD COLUMN IF NOT EXISTS prompt_version TEXT,
    ADD COLUMN IF NOT EXISTS checks_run INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS checks_passed INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS checks_failed INTEGER NOT NULL DEFAULT 0,
    -- A follow-up's short answer belongs to one step of one lesson ("question_hash#step"): it
    -- is found by that, never offered as an answer to a question of its own.
    ADD COLUMN IF NOT EXISTS follow_up_of TEXT;

COMMENT ON COLUMN ai_answers.prompt_version IS 'prompt that generated it; NULL for manual answers';
COMMENT ON COLUMN ai_answers.follow_up_of IS 'lesson hash and step a follow-up answer belongs to';
