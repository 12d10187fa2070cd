-- "No entendí" on one step of a lesson, and answers marked for review when their steps or their
-- ratings say students do not understand them.

CREATE TABLE step_feedback (
    interaction_id UUID NOT NULL REFERENCES interactions(id) ON DELETE CASCADE,
    step_number INTEGER NOT NULL CHECK (step_number BETWEEN 1 AND 100),
    user_id UUID NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    answer_id UUID NOT NULL REFERENCES ai_answers(id) ON DELETE CASCADE,
    understood BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    PRIMARY KEY (interaction_id, step_number)
);

CREATE TRIGGER step_feedback_set_updated_at BEFORE UPDATE ON step_feedback
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- Counting the students lost on a step of an answer reads only the "no entendí" rows.
CREATE INDEX step_feedback_confused_idx ON step_feedback (answer_id, step_number)
    WHERE NOT understood;

ALTER TABLE step_feedback ENABLE ROW LEVEL SECURITY;
CREATE POLICY step_feedback_select_own ON step_feedback
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);

ALTER TABLE ai_answers
    ADD COLUMN needs_review BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN review_reason TEXT,
    ADD COLUMN flagged_at TIMESTAMPTZ;

CREATE INDEX ai_answers_needs_review_idx ON ai_answers (flagged_at) WHERE needs_review;
