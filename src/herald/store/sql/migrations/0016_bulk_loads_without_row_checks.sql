-- The two tables a campaign loads in bulk lose their foreign keys (issue 18). A foreign key
-- is checked row by row: each COPYed part ran a lookup of its message that also locked it
-- (FOR KEY SHARE, a WAL record per message), and each recipient one of its campaign. On
-- 20,000 recipients that was 55 of the 150 ms the recipients' COPY took, inside the request
-- that waits for its first submit_sm. herald writes both tables only next to their parent,
-- in the same transaction (expansion; a campaign's recipients after it is read or inserted);
-- deletes name them itself: delete_idle_campaign takes a campaign's recipients and its
-- messages' parts, retention a chunk's parts.
ALTER TABLE parts DROP CONSTRAINT parts_message_id_fkey;
ALTER TABLE campaign_recipients DROP CONSTRAINT campaign_recipients_campaign_id_fkey;
