-- Retention and several processes on one carrier account (issue 22).
-- - A batch whose messages retention deleted keeps their totals: batch_totals (messages and
--   segments by status, reason and route) and batch_part_totals (parts by carrier account and
--   state), written in the transaction that marks it pruned (pruned_at). Its messages and
--   parts are then deleted in chunks, from prune_from up (NULL once done).
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
    reason    text NOT NULL DEFAULT '',
    route     text NOT NULL DEFAULT '',
    messages  bigint NOT NULL CHECK (messages >= 0),
    segments  bigint NOT NULL CHECK (segments >= 0),
    PRIMARY KEY (batch_id, status, reason, route)
);

CREATE TABLE batch_part_totals (
    batch_id  bigint NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    bind      text NOT NULL DEFAULT '',
    state     text NOT NULL
              CHECK (state IN ('pending', 'submitted', 'refused', 'enroute', 'accepted',
                               'delivered', 'undeliverable', 'expired', 'deleted',
                               'rejected', 'unknown')),
    parts     bigint NOT NULL CHECK (parts >= 0),
    PRIMARY KEY (batch_id, bind, state)
);

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
