-- Fair share between accounts and campaigns (docs/operations.md).
--
-- An account's weight (its share of each route's capacity against the other accounts with
-- due messages) and priority (higher first); a campaign's traffic class (transactional
-- before bulk). The dispatcher reads them with the due queues (due_queues in queries.sql).
ALTER TABLE accounts
    ADD COLUMN weight integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
    ADD COLUMN priority smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN -100 AND 100);
ALTER TABLE campaigns
    ADD COLUMN traffic_class text NOT NULL DEFAULT 'bulk'
        CHECK (traffic_class IN ('transactional', 'bulk'));

-- The due index gains the route after the batch: the claim probes one (batch, route) queue
-- at a time, only the queues the fair share chose, and the queue refresh walks a batch's
-- routes by skipping from one to the next. Messages stored without a route (none that
-- expansion queues) sort under ''. Rebuilding it reads messages once.
DROP INDEX messages_due_idx;
CREATE INDEX messages_due_idx ON messages (batch_id, (coalesce(route, '')), not_before, id)
    WHERE status IN ('queued', 'deferred');
