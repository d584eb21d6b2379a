-- A send-now campaign's first messages are sendable before the rest are stored (issue 18:
-- the first submit_sm within 0.5 s of the POST). The request's transaction stores the
-- campaign, its recipients, the whole run's counts and credit, and the first messages; the
-- rest follow in their own transactions right after it commits (campaigns/runs.py). Until
-- they are stored the batch does not complete; if herald stops in between, maintenance (or a
-- stop of the campaign) expands the rest again from the stored recipients.
ALTER TABLE batches ADD COLUMN rest_pending boolean NOT NULL DEFAULT false;
CREATE INDEX batches_rest_pending_idx ON batches (id) WHERE rest_pending;
