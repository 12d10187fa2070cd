-- Credits are a monthly allotment of the plan; the daily limit resets at the student's midnight.
-- Both resets are lazy (applied on the first use of a new day or month), in the student's time
-- zone, so no job has to run at midnight.

ALTER TABLE profiles
    ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC',
    ADD COLUMN credits_period_start DATE NOT NULL DEFAULT date_trunc('month', CURRENT_DATE)::date;

-- The time zone is changed only through the API (it decides when the daily limit resets), so
-- it is not added to the columns a student may update directly.

-- A student's progress through the week: the last day they practised drives the streak.
ALTER TABLE user_progress ADD COLUMN last_practice_date DATE;
