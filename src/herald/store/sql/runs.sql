-- Named queries for starting a run of a campaign (herald.engine.runs).

-- name: campaign_for_run
-- The campaign with its sender, locked so two runs (an API call and the scheduler, or two
-- herald processes) cannot start at once; the second waits and then sees 'running'.
SELECT c.id, c.account_id, c.name, c.status, c.template, c.fallback_values, c.flash,
       c.transcode, c.respect_quiet_hours, c.quiet_hours, c.ignore_invalid_numbers, c.scheduled_at,
       s.address AS sender, s.ton AS sender_ton, s.npi AS sender_npi
FROM campaigns c JOIN senders s ON s.id = c.sender_id
WHERE c.id = $1 AND c.account_id = $2
FOR UPDATE OF c;

-- name: account_credit
SELECT credit FROM accounts WHERE id = $1;
