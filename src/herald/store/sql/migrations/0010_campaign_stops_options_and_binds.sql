-- What users tripped on (issue 23):
-- - a campaign may send to mobiles only (numbers of another type are `not_mobile`);
-- - every stop keeps its time and reason ({"code", "message"}), shown by GET until the
--   campaign runs again (a stop for lack of credit was visible only in its callback);
-- - a reminder's batch is kind 'reminder', so it does not count in the campaign's progress
--   (before, 3 messages were expected for 2 recipients). Reminder batches were stored with
--   the description 'reminder' and no template of their own;
-- - a status move carries the bind that sent the message, written to messages.bind (it
--   stayed NULL: only parts knew their bind's receipt group).
ALTER TABLE campaigns
    ADD COLUMN mobiles_only boolean NOT NULL DEFAULT false,
    ADD COLUMN stopped_at timestamptz,
    ADD COLUMN stop_reason jsonb CHECK (jsonb_typeof(stop_reason) = 'object');
ALTER TABLE batches
    ADD COLUMN kind text NOT NULL DEFAULT 'run' CHECK (kind IN ('run', 'reminder'));
UPDATE batches SET kind = 'reminder' WHERE description = 'reminder' AND template IS NULL;
ALTER TYPE status_move ADD ATTRIBUTE bind text;
