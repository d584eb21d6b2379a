-- The completion check (finish_batches) looks for a batch's messages waiting for receipts.
-- messages_sent_idx is ordered by sent_at across all batches, so that probe read every other
-- batch's 'sent' messages first, or the planner chose a sequential scan of all of messages.
-- Partial: only rows in 'sent' are indexed, and only the move to 'sent' writes an entry.
CREATE INDEX messages_sent_batch_idx ON messages (batch_id, sent_at) WHERE status = 'sent';
