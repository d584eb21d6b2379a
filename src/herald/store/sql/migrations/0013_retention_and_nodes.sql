-- Retention and several processes on one carrier account (issue 22).
-- - A batch whose messages retention deleted keeps what progress and reports read of them:
--   batch_totals (messages and segments by status, reason, country and route),
--   batch_part_totals (parts by carrier account, state, message status, receipt),
--   batch_minutes (the timeline) and batch_latencies (receipt latencies), written in the
--   transaction that marks it pruned (pruned_at). Its messages and parts are then deleted
--   in chunks, from prune_from up (NULL once done).
-- - Every herald process writes a heartbeat row (nodes) and, per carrier account its binds
--   log in to, what it has and wants (node_accounts): the accounts' rates and binds are
--   shared out among the live ones.
-- Adding columns without defaults and creating empty tables takes no time on a large
-- database; the two indexes on batches read that table once.
ALTER TABLE batches
    ADD COLUMN pruned_at timestamptz,
    ADD COLUMN prune_from bigint;
CREATE INDEX batches_prunable_idx ON batches (finished_at)
    WHERE pruned_at IS NULL AND status IN ('completed', 'stopped', 'failed');
CREATE INDEX batches_pruning_idx ON batches (id) WHERE prune_from IS NOT NULL;

CREATE TABLE batch_totals (
    batch_id  bigint NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    status    text NOT NULL
              CHECK (status IN ('queued', 'deferred', 'sending', 'sent', 'delivered',
                                'failed', 'rejected', 'unknown', 'stopped')),
    reason    text,
    country   text,
    route     text,
    messages  bigint NOT NULL CHECK (messages >= 0),
    segments  bigint NOT NULL CHECK (segments >= 0)
);
CREATE INDEX batch_totals_batch_idx ON batch_totals (batch_id);

CREATE TABLE batch_part_totals (
    batch_id        bigint NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    bind            text,
    state           text NOT NULL
                    CHECK (state IN ('pending', 'submitted', 'refused', 'enroute', 'accepted',
                                     'delivered', 'undeliverable', 'expired', 'deleted',
                                     'rejected', 'unknown')),
    message_status  text NOT NULL
                    CHECK (message_status IN ('queued', 'deferred', 'sending', 'sent',
                                              'delivered', 'failed', 'rejected', 'unknown',
                                              'stopped')),
    receipted       boolean NOT NULL,
    parts           bigint NOT NULL CHECK (parts >= 0),
    accepted        bigint NOT NULL CHECK (accepted >= 0)
);
CREATE INDEX batch_part_totals_batch_idx ON batch_part_totals (batch_id);

CREATE TABLE batch_minutes (
    batch_id  bigint NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    minute    bigint,
    status    text,
    messages  bigint NOT NULL CHECK (messages >= 0),
    accepted  bigint NOT NULL CHECK (accepted >= 0)
);
CREATE INDEX batch_minutes_batch_idx ON batch_minutes (batch_id);

CREATE TABLE batch_latencies (
    batch_id  bigint NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    latency   double precision NOT NULL,
    parts     bigint NOT NULL CHECK (parts >= 0)
);
CREATE INDEX batch_latencies_batch_idx ON batch_latencies (batch_id);

CREATE TABLE nodes (
    name          text PRIMARY KEY,
    version       text NOT NULL,
    host          text NOT NULL,
    pid           integer NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    read_at       timestamptz
);
CREATE INDEX nodes_heartbeat_idx ON nodes (heartbeat_at);

CREATE TABLE node_accounts (
    node       text NOT NULL REFERENCES nodes (name) ON DELETE CASCADE,
    account    text NOT NULL,
    rate       double precision NOT NULL CHECK (rate > 0),
    burst      integer NOT NULL CHECK (burst >= 1),
    max_binds  integer NOT NULL CHECK (max_binds >= 0),
    binds      integer NOT NULL CHECK (binds >= 0),
    claimed    integer NOT NULL CHECK (claimed >= 0),
    started    integer NOT NULL CHECK (started >= 0),
    bound      integer NOT NULL CHECK (bound >= 0),
    PRIMARY KEY (node, account)
);
CREATE INDEX node_accounts_account_idx ON node_accounts (account);
