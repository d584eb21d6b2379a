-- herald's database schema: the truth. Numbered migrations in migrations/ must reproduce it
-- exactly (tests/integration/test_store_schema.py compares the catalogs), so change both.
--
-- Conventions: ids are bigint identities (messages use a plain sequence so expansion can reserve
-- ids in bulk and COPY messages and parts together); times are timestamptz; every status column
-- has a CHECK listing exactly the states of its machine in herald/states.py (a test
-- compares them); phones are E.164 ('+' and up to 15 digits) except where a raw input is kept.
-- migrate() keeps its own bookkeeping table, schema_migrations, outside this file.

-- --- accounts and their address book --------------------------------------------------------

CREATE TABLE accounts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name <> ''),
    webhook_secret  text NOT NULL,             -- signs callback bodies (HMAC)
    credit          bigint NOT NULL DEFAULT 0 CHECK (credit >= 0),  -- in segments
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- The account's share of each route's capacity against the other accounts with due
    -- messages, and its rank: a higher priority is served first (docs/operations.md).
    weight          integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
    priority        smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN -100 AND 100)
);

-- An account's API keys (herald/store/accounts.py). A key is looked up by its hash on every
-- request, so revoking one takes effect at the next request in every process.
CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (name <> ''),
    prefix        text NOT NULL,             -- first characters of the key, for display only
    -- SHA-256 of the key: keys are random and high-entropy, so a fast hash is enough.
    hash          bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,               -- NULL: never
    revoked_at    timestamptz,               -- set once, never cleared
    last_used_at  timestamptz                -- to the minute: written at most once a minute
);
-- Names tell an account's live keys apart; a revoked key's name may be used again.
CREATE UNIQUE INDEX api_keys_live_name_idx ON api_keys (account_id, name)
    WHERE revoked_at IS NULL;
CREATE INDEX api_keys_account_idx ON api_keys (account_id, id);

CREATE TABLE senders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    address     text NOT NULL CHECK (address <> ''),  -- as sent in source_addr
    kind        text NOT NULL CHECK (kind IN ('alphanumeric', 'numeric', 'short_code')),
    ton         smallint NOT NULL CHECK (ton BETWEEN 0 AND 255),
    npi         smallint NOT NULL CHECK (npi BETWEEN 0 AND 255),
    created_at  timestamptz NOT NULL DEFAULT now(),
    inbound_callback  text,                   -- where replies to this sender are POSTed
    UNIQUE (account_id, address)
);
-- Mobile-originated messages arrive addressed to a sender: find its account.
CREATE INDEX senders_address_idx ON senders (address);

CREATE TABLE contacts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    phone       text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{1,14}$'),
    name        text,
    labels      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, phone)
);

CREATE TABLE groups (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);

CREATE TABLE group_members (
    group_id    bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    contact_id  bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, contact_id)
);
CREATE INDEX group_members_contact_idx ON group_members (contact_id);

-- Numbers an account never sends to: added over the API, by an opt-out (STOP) reply or through
-- an opt-out link.
CREATE TABLE blacklist (
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    phone       text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{1,14}$'),
    source      text NOT NULL CHECK (source IN ('api', 'opt_out', 'opt_out_link')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, phone)
);

-- --- campaigns -------------------------------------------------------------------------------

CREATE TABLE campaigns (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id              bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                    text NOT NULL CHECK (name <> ''),
    sender_id               bigint NOT NULL REFERENCES senders (id),
    template                text NOT NULL,
    fallback_values         jsonb NOT NULL DEFAULT '{}'
                            CHECK (jsonb_typeof(fallback_values) = 'object'),
    flash                   boolean NOT NULL DEFAULT false,
    transcode               boolean NOT NULL DEFAULT false,  -- map look-alikes to GSM-7
    respect_quiet_hours     boolean NOT NULL DEFAULT true,
    -- Local-time windows (in the recipient's time zone) when nothing is sent.
    quiet_hours             jsonb NOT NULL
                            DEFAULT '[{"from": "23:00", "to": "08:00"}, {"from": "14:00", "to": "17:00"}]'
                            CHECK (jsonb_typeof(quiet_hours) = 'array'),
    scheduled_at            timestamptz,
    callback_url            text,                  -- per-message status callbacks
    campaign_callback_url   text,                  -- campaign status callbacks
    -- Test numbers that get the message ahead of a scheduled run:
    -- {"numbers": ["+..."], "lead_seconds": 3600}
    reminder                jsonb CHECK (jsonb_typeof(reminder) = 'object'),
    ignore_invalid_numbers  boolean NOT NULL DEFAULT false,
    status                  text NOT NULL
                            CHECK (status IN ('scheduled', 'running', 'suspended', 'stopped',
                                              'completed')),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    -- Transactional traffic is claimed before bulk campaigns (docs/operations.md).
    traffic_class           text NOT NULL DEFAULT 'bulk'
                            CHECK (traffic_class IN ('transactional', 'bulk')),
    -- Numbers whose type is not mobile (or fixed line or mobile) are refused: `not_mobile`.
    mobiles_only            boolean NOT NULL DEFAULT false,
    -- The last stop, kept while the campaign is stopped: when, and {"code", "message"}
    -- (stopped_by_user, insufficient_balance, no_recipients, ...).
    stopped_at              timestamptz,
    stop_reason             jsonb CHECK (jsonb_typeof(stop_reason) = 'object'),
    -- Where %Link% takes recipients (a per-recipient short link to it), and the query
    -- (UTM-style) added to it; whether %OptOutLink% places an opt-out link.
    track_link_url          text CHECK (track_link_url ~ '^https?://'),
    track_link_params       jsonb NOT NULL DEFAULT '{}'
                            CHECK (jsonb_typeof(track_link_params) = 'object'),
    opt_out_link            boolean NOT NULL DEFAULT false,
    -- A request to POST /v1/messages is a campaign of kind 'message' with one run, its own
    -- sender, options and callback, named '~' and a UUID; the campaign API lists, reads and
    -- changes only kind 'campaign' (docs/decisions/0013-messages-as-runs-of-one-campaign.md).
    kind                    text NOT NULL DEFAULT 'campaign' CHECK (kind IN ('campaign', 'message')),
    -- Minutes the carrier keeps trying (submit_sm validity_period); NULL: the bind's setting.
    validity_minutes        integer CHECK (validity_minutes > 0),
    -- The inbound message an automatic reply answers: the blacklist does not stop a reply.
    in_reply_to             bigint,
    UNIQUE (account_id, name)
);
-- The scheduler looks for scheduled campaigns that are due.
CREATE INDEX campaigns_due_idx ON campaigns (scheduled_at) WHERE status = 'scheduled';
-- The campaign API's lists: an account's campaigns without its message requests.
CREATE INDEX campaigns_listed_idx ON campaigns (account_id, id) WHERE kind = 'campaign';

-- Recipients given explicitly: numbers, recipient objects and file rows, kept raw; they are
-- validated when a run expands.
CREATE TABLE campaign_recipients (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key, checked row by row on a bulk load: herald adds recipients only to a
    -- campaign it has just inserted or read, and delete_idle_campaign deletes them.
    campaign_id  bigint NOT NULL,
    source       text NOT NULL CHECK (source IN ('number', 'recipient', 'file')),
    phone_raw    text NOT NULL,
    name         text,
    labels       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    file_row     integer CHECK (file_row >= 1),   -- 1-based row number in the uploaded file
    client_ref   text CHECK (char_length(client_ref) BETWEEN 1 AND 64),  -- the caller's own
    CHECK ((source = 'file') = (file_row IS NOT NULL))
);
-- In the order they were added: expansion reads them by campaign, a page of
-- GET .../recipients by campaign and id.
CREATE INDEX campaign_recipients_campaign_idx ON campaign_recipients (campaign_id, id);

-- Contacts and groups are referenced, and resolved when a run expands, so a group edited
-- before a scheduled run is honoured.
CREATE TABLE campaign_contacts (
    campaign_id  bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    contact_id   bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (campaign_id, contact_id)
);

CREATE TABLE campaign_groups (
    campaign_id  bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    group_id     bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (campaign_id, group_id)
);

-- One run of a campaign.
CREATE TABLE batches (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id        bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    number             integer NOT NULL CHECK (number >= 1),  -- 1, 2, ... within the campaign
    description        text,
    template           text,                                   -- overrides the campaign's
    status             text NOT NULL
                       CHECK (status IN ('expanding', 'sending', 'suspended', 'stopped',
                                         'completed', 'failed')),
    messages_expected  integer NOT NULL DEFAULT 0 CHECK (messages_expected >= 0),
    segments_expected  bigint NOT NULL DEFAULT 0 CHECK (segments_expected >= 0),
    credit_used        bigint NOT NULL DEFAULT 0 CHECK (credit_used >= 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    -- Every message of the batch has an id in this range, set when the batch is expanded (its
    -- ids come from messages_id_seq in that one transaction): lookups by batch and by
    -- campaign read messages_pkey over it (a batch expanded at the same time may interleave,
    -- so they still filter on batch_id). NULL for a batch with no messages.
    first_message_id   bigint,
    last_message_id    bigint,
    -- 'reminder': the test numbers' send ahead of a scheduled run, left out of progress.
    kind               text NOT NULL DEFAULT 'run' CHECK (kind IN ('run', 'reminder')),
    -- Where this run's tracked links redirect: the campaign's track_link_url (or the run's
    -- own) with track_link_params, fixed when the run expands. NULL: no tracked link.
    link_url           text,
    -- Denormalised from the campaign (create_batch sets it): GET /v1/messages walks an
    -- account's runs newest first and reads each one's id range.
    account_id         bigint,
    -- Retention (herald.delivery.retention): when the batch's totals were written to
    -- batch_totals and batch_part_totals and its messages began to be deleted; they are read
    -- from there from then on. prune_from is the next message id to delete, NULL once done.
    pruned_at          timestamptz,
    prune_from         bigint,
    -- A send-now run whose first messages were stored (and are being sent) before the rest:
    -- the batch does not complete until they are (campaigns/runs.py, migration 0015).
    rest_pending       boolean NOT NULL DEFAULT false,
    UNIQUE (campaign_id, number),
    CONSTRAINT batches_message_ids_check
        CHECK ((first_message_id IS NULL) = (last_message_id IS NULL)
               AND first_message_id <= last_message_id)
);
-- The dispatcher sends only from batches in 'sending'.
CREATE INDEX batches_sending_idx ON batches (id) WHERE status = 'sending';
-- Maintenance looks for runs whose rest was never stored (herald stopped in between).
CREATE INDEX batches_rest_pending_idx ON batches (id) WHERE rest_pending;
-- Retention looks for finished batches past their time, and for batches it is deleting.
CREATE INDEX batches_prunable_idx ON batches (finished_at)
    WHERE pruned_at IS NULL AND status IN ('completed', 'stopped', 'failed');
CREATE INDEX batches_pruning_idx ON batches (id) WHERE prune_from IS NOT NULL;

-- A pruned batch's messages, counted before they were deleted, by status, reason, destination
-- country and route (NULL as in messages), with their segments (rejected messages cost
-- none). Progress and reports read these for a pruned batch instead of its messages.
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

-- A pruned batch's parts, counted before they were deleted: by receipt group (bind; NULL for
-- a part never sent), state, their message's status and whether a receipt set the state (as
-- progress counts segments), with the first parts the carrier accepted (messages sent).
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

-- A pruned batch's timeline, per minute since the epoch (a report's buckets are whole
-- minutes): messages reaching each final status (status, by done_at; minute NULL for none),
-- and first parts the carrier accepted (status NULL, by submitted_at).
CREATE TABLE batch_minutes (
    batch_id  bigint NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    minute    bigint,
    status    text,
    messages  bigint NOT NULL CHECK (messages >= 0),
    accepted  bigint NOT NULL CHECK (accepted >= 0)
);
CREATE INDEX batch_minutes_batch_idx ON batch_minutes (batch_id);

-- A pruned batch's submit-to-receipt latencies of parts with a final receipt, in seconds to
-- three significant digits (as the report's histogram has them).
CREATE TABLE batch_latencies (
    batch_id  bigint NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    latency   double precision NOT NULL,
    parts     bigint NOT NULL CHECK (parts >= 0)
);
CREATE INDEX batch_latencies_batch_idx ON batch_latencies (batch_id);

CREATE INDEX batches_account_idx ON batches (account_id, id);

-- --- messages and their parts ----------------------------------------------------------------

-- A plain sequence, not an identity: expansion reserves ids (nextval over generate_series) and
-- COPYs messages and their parts in one go.
CREATE SEQUENCE messages_id_seq AS bigint;

CREATE TABLE messages (
    id             bigint PRIMARY KEY DEFAULT nextval('messages_id_seq'),
    -- No foreign keys, here or on the two denormalised ids: a cascade from batches would look
    -- messages up by batch_id, which has no index (see batches.first_message_id); deleting a
    -- campaign deletes its messages by range (delete_idle_campaign).
    batch_id       bigint NOT NULL,
    campaign_id    bigint NOT NULL,      -- denormalised from the batch
    account_id     bigint NOT NULL,
    phone          text NOT NULL,        -- E.164, or the raw input when it was invalid
    tz             text,                 -- the recipient's IANA time zone, for quiet hours
    text           text NOT NULL,        -- rendered
    encoding       text NOT NULL,        -- the text pipeline's name; data_coding is the wire value
    data_coding    smallint NOT NULL CHECK (data_coding BETWEEN 0 AND 255),
    esm_class      smallint NOT NULL CHECK (esm_class BETWEEN 0 AND 255),
    part_count     smallint NOT NULL CHECK (part_count BETWEEN 1 AND 255),
    status         text NOT NULL
                   CHECK (status IN ('queued', 'deferred', 'sending', 'sent', 'delivered',
                                     'failed', 'rejected', 'unknown', 'stopped')),
    reason         text,                 -- stable code: invalid_number, blacklisted, ESME_R...
    attempts       smallint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    not_before     timestamptz NOT NULL DEFAULT now(),  -- schedule, quiet hours, retry backoff
    lease_owner    text,                 -- the dispatcher holding the message while 'sending'
    lease_expires  timestamptz,
    route          text,
    bind           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    done_at        timestamptz,
    country        text,                 -- ISO 3166 alpha-2 of phone; NULL when it is invalid
    client_ref     text,                 -- the caller's own reference (up to 64 characters)
    CHECK ((status = 'sending') = (lease_owner IS NOT NULL AND lease_expires IS NOT NULL))
);
-- The dispatcher's queues: per batch and route (route '' when a message has none), due
-- messages in not_before order. The claim probes the (batch, route) queues the fair share
-- chose (claim_due_messages); the refresh skips from a batch's route to the next (due_queues).
CREATE INDEX messages_due_idx ON messages (batch_id, (coalesce(route, '')), not_before, id)
    WHERE status IN ('queued', 'deferred');
-- Leases of crashed dispatchers.
CREATE INDEX messages_lease_idx ON messages (lease_expires) WHERE status = 'sending';
-- Messages waiting for receipts, for the sweep that gives up after validity + margin.
CREATE INDEX messages_sent_idx ON messages (sent_at) WHERE status = 'sent';
-- A batch's messages waiting for receipts, for the completion check (finish_batches): without
-- it that probe reads every 'sent' message of every other batch, or all of messages.
CREATE INDEX messages_sent_batch_idx ON messages (batch_id, sent_at) WHERE status = 'sent';
-- Messages by the caller's reference. Only those that carry one have an entry: the status
-- moves of the others add nothing to it.
CREATE INDEX messages_client_ref_idx ON messages (account_id, client_ref)
    WHERE client_ref IS NOT NULL;
-- No index by batch or by campaign: those lookups read messages_pkey over the batches' id
-- ranges. Every status move is an update that is not HOT, so it adds an entry to each index
-- of the table and goes through each BRIN one: btrees on batch_id and campaign_id made a
-- claim cost 47 µs per message instead of 31, and BRIN ones on them still 3.5 µs each per
-- move. That a number is sent once per batch is enforced by expansion, which is one
-- transaction per batch and skips a number it has already seen.

CREATE TABLE parts (
    -- No foreign key (as links): one is checked row by row, and a COPYed part's check also
    -- locked its message. Parts are written only with their message, in its transaction;
    -- delete_idle_campaign and retention delete them by message id.
    message_id      bigint NOT NULL,
    seq             smallint NOT NULL CHECK (seq BETWEEN 1 AND 255),
    short_message   bytea NOT NULL,       -- UDH included
    tlvs            bytea NOT NULL DEFAULT '\x',  -- pre-encoded optional parameters
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'submitted', 'refused', 'enroute', 'accepted',
                                     'delivered', 'undeliverable', 'expired', 'deleted',
                                     'rejected', 'unknown')),
    -- The receipt group (carrier account) of the bind that sent it: receipts match on it.
    bind            text,
    smsc_id         text,                 -- message_id from submit_sm_resp, as received
    canonical_id    text,                 -- normalised to match receipts (docs/protocol.md §5.5)
    command_status  integer,              -- of the last submit_sm_resp
    submitted_at    timestamptz,
    receipt_state   smallint CHECK (receipt_state BETWEEN 0 AND 255),  -- SMPP message_state
    receipt_error   text,                 -- err: of the receipt text, as received
    network_error   text,                 -- network_error_code TLV, as "type:code"
    receipt_at      timestamptz,
    PRIMARY KEY (message_id, seq)
);
-- Receipts find their part by the receipt group they came in on and the canonical carrier id,
-- newest first: carriers reuse ids, and a receipt belongs to the newest part submitted before
-- it (apply_receipts walks this index backwards from the receipt's time).
CREATE INDEX parts_receipt_idx ON parts (bind, canonical_id, submitted_at)
    WHERE canonical_id IS NOT NULL;

-- Per-recipient links (docs/api.md, links): a code of its own per message and kind, made at
-- expansion and COPYed with the messages. /l/{code} redirects to its batch's link_url,
-- /o/{code} offers the opt-out. No foreign key (as messages): deleting a campaign deletes its
-- links by message id range (delete_idle_campaign).
CREATE TABLE links (
    code        text PRIMARY KEY,
    message_id  bigint NOT NULL,
    batch_id    bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('click', 'opt_out'))
);
CREATE INDEX links_message_idx ON links (message_id);

-- What recipients did with their links: each click (its time and user agent) and each
-- confirmed opt-out (once per link). Only ever inserted, by batches off the redirect's path.
CREATE TABLE link_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id   bigint NOT NULL,
    campaign_id  bigint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('click', 'opt_out')),
    at           timestamptz NOT NULL,
    user_agent   text
);
-- A message's clicks (messages, exports); a campaign's in time order (reports).
CREATE INDEX link_events_message_idx ON link_events (message_id, kind);
CREATE INDEX link_events_campaign_idx ON link_events (campaign_id, at);
CREATE UNIQUE INDEX link_events_opt_out_idx ON link_events (message_id) WHERE kind = 'opt_out';

-- Receipts no part waited for when they arrived: most often their part's carrier id was not
-- stored yet (docs/protocol.md §5.6). Reconciled when submit results are stored and on a timer;
-- counted as duplicates, or dropped as unmatched after the orphan time to live, by maintenance.
CREATE TABLE orphan_receipts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bind           text NOT NULL,
    canonical_id   text NOT NULL,
    state          text NOT NULL
                   CHECK (state IN ('enroute', 'accepted', 'delivered', 'undeliverable',
                                    'expired', 'deleted', 'rejected', 'unknown')),
    receipt_state  smallint CHECK (receipt_state BETWEEN 0 AND 255),
    receipt_error  text,
    network_error  text,
    payload        jsonb NOT NULL,        -- the receipt as decoded, for audit
    received_at    timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0)
);
CREATE INDEX orphan_receipts_id_idx ON orphan_receipts (bind, canonical_id);
CREATE INDEX orphan_receipts_received_idx ON orphan_receipts (received_at);

-- --- progress counters -------------------------------------------------------------------

-- A batch's progress as counters, so a poll reads a few rows instead of counting messages:
-- deltas added by every statement that moves a message's status or a part's state, in that
-- statement (claim_due_messages, write_results, apply_receipts, ... in store/sql/*.sql),
-- folded by maintenance into one row per kind and status (`folded`). Messages count by their
-- status, segments (parts) by the status they show under (segment_status below).
CREATE TABLE batch_counts (
    batch_id  bigint NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('messages', 'segments')),
    status    text NOT NULL
              CHECK (status IN ('queued', 'deferred', 'sending', 'sent', 'delivered', 'failed',
                                'rejected', 'unknown', 'stopped')),
    n         bigint NOT NULL,
    folded    boolean NOT NULL DEFAULT false
);
CREATE INDEX batch_counts_batch_idx ON batch_counts (batch_id);
-- The batches whose deltas are due for folding, without reading every batch's rows.
CREATE INDEX batch_counts_deltas_idx ON batch_counts (batch_id) WHERE NOT folded;

-- How many explicit recipients a campaign has from each source, kept by the statements that
-- add and remove them (count_campaign_recipients, delete_campaign_recipients).
CREATE TABLE campaign_recipient_counts (
    campaign_id  bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    source       text NOT NULL CHECK (source IN ('number', 'recipient', 'file')),
    n            bigint NOT NULL CHECK (n >= 0),
    PRIMARY KEY (campaign_id, source)
);

-- The status a part counts under in its campaign's segment progress: a pending part as its
-- message, otherwise by its own state (herald/states.py segment_status says the same; a test
-- compares them).
CREATE FUNCTION segment_status(message_status text, part_state text, receipted boolean)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN part_state = 'pending' THEN message_status
        WHEN part_state IN ('submitted', 'enroute', 'accepted') THEN 'sent'
        WHEN part_state = 'delivered' THEN 'delivered'
        WHEN part_state = 'refused' THEN 'rejected'
        WHEN part_state = 'expired' AND NOT receipted THEN 'unknown'
        WHEN part_state IN ('undeliverable', 'expired', 'deleted', 'rejected') THEN 'failed'
        ELSE 'unknown'
    END
$$;

-- --- callbacks -------------------------------------------------------------------------------

-- Status callbacks to customers' URLs, written in the same transaction as the state change
-- they report and delivered by a worker with retries.
CREATE TABLE callback_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id       bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url              text NOT NULL,
    body             jsonb NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('message', 'campaign', 'clicked', 'inbound')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'dead')),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX callback_outbox_due_idx ON callback_outbox (next_attempt_at, id)
    WHERE status = 'pending';

-- --- idempotency keys ------------------------------------------------------------------------

-- The first answer to a request made with an `Idempotency-Key` (herald/campaigns/idempotency.py),
-- per account and key. The row is inserted in the transaction that does the request's work and
-- holds the answer when that commits: a concurrent request with the same key waits for it, then
-- answers the same. Replaced once older than the keys' time to live, and swept after it.
CREATE TABLE idempotency_keys (
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key           text NOT NULL CHECK (key <> ''),
    request_hash  bytea NOT NULL CHECK (length(request_hash) = 32),  -- SHA-256 of the request
    status        smallint,                 -- the answer's HTTP status (set before commit)
    answer        json,                     -- its body, as sent (json keeps its key order)
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- --- inbound (mobile-originated) messages ----------------------------------------------------

-- Every mobile-originated message that is not a receipt, stored before its deliver_sm is
-- answered (herald/delivery/inbound.py): one row per account owning the sender it was sent to,
-- or one with account_id NULL when no account does. A concatenated message is one row, once
-- all its parts are in (or, with parts missing, when the first is older than the parts' time
-- to live).
CREATE TABLE inbound_messages (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id        bigint REFERENCES accounts (id) ON DELETE CASCADE,
    sender_id         bigint REFERENCES senders (id) ON DELETE SET NULL,
    bind              text NOT NULL,           -- the bind of the part that completed it
    source_addr       text NOT NULL,           -- the handset, as received
    phone             text CHECK (phone ~ '^\+[1-9][0-9]{1,14}$'),  -- its E.164, if a number
    destination_addr  text NOT NULL,           -- our sender, as received
    text              text,                    -- decoded per data_coding; NULL: 8-bit data
    data_coding       smallint NOT NULL CHECK (data_coding BETWEEN 0 AND 255),
    payload           bytea NOT NULL,          -- the parts' user data after their UDH, joined
    parts             smallint NOT NULL DEFAULT 1 CHECK (parts BETWEEN 1 AND 255),
    missing_parts     smallint NOT NULL DEFAULT 0 CHECK (missing_parts BETWEEN 0 AND 254),
    keyword           text,                    -- the keyword it matched, as configured
    action            text CHECK (action IN ('opt_out', 'opt_in')),
    received_at       timestamptz NOT NULL,    -- its first part
    stored_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbound_messages_account_idx ON inbound_messages (account_id, id);
CREATE INDEX inbound_messages_phone_idx ON inbound_messages (account_id, phone, id);
CREATE INDEX inbound_messages_sender_idx ON inbound_messages (sender_id, id);

-- Parts of concatenated inbound messages waiting for the rest, from any bind and across
-- restarts; a part sent again (its deliver_sm_resp was lost) is kept once.
CREATE TABLE inbound_parts (
    source_addr       text NOT NULL,
    destination_addr  text NOT NULL,
    reference         integer NOT NULL CHECK (reference BETWEEN 0 AND 65535),
    total             smallint NOT NULL CHECK (total BETWEEN 2 AND 255),
    seq               smallint NOT NULL CHECK (seq BETWEEN 1 AND 255),
    bind              text NOT NULL,
    data_coding       smallint NOT NULL CHECK (data_coding BETWEEN 0 AND 255),
    esm_class         smallint NOT NULL CHECK (esm_class BETWEEN 0 AND 255),
    user_data         bytea NOT NULL,          -- short_message or message_payload, UDH included
    received_at       timestamptz NOT NULL,
    PRIMARY KEY (source_addr, destination_addr, reference, total, seq)
);
CREATE INDEX inbound_parts_received_idx ON inbound_parts (received_at);

-- --- herald processes ----------------------------------------------------------------------

-- Every herald process (node) on this database, with its heartbeat (database time, written
-- every nodes.heartbeat_interval) and the start of its latest read of this registry: a process
-- that claims more of a carrier account waits until every other live process has read the
-- registry since (herald.delivery.nodes). Live: a heartbeat younger than nodes.timeout.
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

-- Per process and carrier account: the account's grant as that process's configuration says
-- (rate, burst, max_binds), and the process's binds of it: configured, claimed (the slots it
-- asks for under max_binds), started (connecting or bound; never taken back) and bound. An
-- account's rate is shared in proportion to bound binds (herald/delivery/shares.py).
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

-- --- row types of the send path's batched writes ------------------------------------------

-- A flush passes its rows as one array of these per kind rather than one array per column:
-- asyncpg then checks each row once instead of each value (a receipted part costs herald
-- 2.5 µs of CPU to send instead of 4.1 µs). Their fields are in the order herald builds its
-- tuples. Times are seconds since the Unix epoch (the statements apply to_timestamp): asyncpg
-- encodes a float8 in a fraction of what a timestamptz costs it (about 2 µs of herald's CPU
-- each, three per message), and a double holds today's epoch to the microsecond.
CREATE TYPE part_outcome AS (         -- a part's submit_sm_resp, and its receipt when both
    message_id      bigint,           -- came in one flush (else the last four are NULL)
    seq             smallint,
    state           text,
    smsc_id         text,
    canonical_id    text,
    command_status  integer,
    submitted_at    double precision,
    bind            text,
    receipt_state   smallint,
    receipt_error   text,
    network_error   text,
    receipt_at      double precision
);
CREATE TYPE status_move AS (          -- a message status compare-and-set
    id          bigint,
    expected    text,
    status      text,
    reason      text,
    not_before  double precision,
    at          double precision,
    bind        text              -- the bind that sent the message (messages.bind), or NULL
);
