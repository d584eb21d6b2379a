-- Lookups of messages by batch and by campaign go through each batch's range of message ids
-- (messages_pkey) instead of the two BRIN indexes. Every status move of a message is an
-- update that is not HOT, and each such update also went through both BRIN indexes: about
-- 3.5 µs of PostgreSQL's CPU per index, three moves per message. A batch's ids are known when
-- it is expanded: they come from messages_id_seq in one transaction, so every message of the
-- batch has an id inside [first_message_id, last_message_id] (another batch expanded at the
-- same time may interleave; queries still filter on batch_id).
-- The foreign key from messages to batches goes too: its ON DELETE CASCADE looked messages up
-- by batch_id, a sequential scan per batch without an index. delete_idle_campaign deletes
-- the messages by range itself.
ALTER TABLE batches
    ADD COLUMN first_message_id bigint,
    ADD COLUMN last_message_id bigint,
    ADD CONSTRAINT batches_message_ids_check
        CHECK ((first_message_id IS NULL) = (last_message_id IS NULL)
               AND first_message_id <= last_message_id);
UPDATE batches b SET first_message_id = r.first_id, last_message_id = r.last_id
FROM (SELECT batch_id, min(id) AS first_id, max(id) AS last_id
      FROM messages GROUP BY batch_id) r
WHERE r.batch_id = b.id;
DROP INDEX messages_batch_brin;
DROP INDEX messages_campaign_brin;
ALTER TABLE messages DROP CONSTRAINT messages_batch_id_fkey;
