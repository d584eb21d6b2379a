-- Messages one by one, idempotency keys, client references and inbound messages (issue 21).

-- A request to POST /v1/messages is a campaign of kind 'message' with one run: the same
-- expansion, credit, dispatch, receipts and callbacks as any campaign, each request with its
-- own sender, options and callback (docs/decisions/0013-messages-as-runs-of-one-campaign.md).
-- The campaign API lists, reads and changes only campaigns of kind 'campaign'.
ALTER TABLE campaigns
    ADD COLUMN kind text NOT NULL DEFAULT 'campaign' CHECK (kind IN ('campaign', 'message')),
    -- Minutes the carrier keeps trying (submit_sm validity_period); NULL: the bind's setting.
    ADD COLUMN validity_minutes integer CHECK (validity_minutes > 0),
    -- The inbound message an automatic reply answers: the blacklist does not stop it.
    ADD COLUMN in_reply_to bigint;
CREATE INDEX campaigns_listed_idx ON campaigns (account_id, id) WHERE kind = 'campaign';

-- The caller's own reference for each message (up to 64 characters), echoed in callbacks.
ALTER TABLE campaign_recipients
    ADD COLUMN client_ref text CHECK (char_length(client_ref) BETWEEN 1 AND 64);
ALTER TABLE messages ADD COLUMN client_ref text;
-- Only messages that carry a reference have an entry: the others' status moves pay nothing.
-- Building it reads messages once and blocks writes to it meanwhile.
CREATE INDEX messages_client_ref_idx ON messages (account_id, client_ref)
    WHERE client_ref IS NOT NULL;

-- The account's messages, newest run first, for GET /v1/messages: each run's id range is
-- then read from messages_pkey (messages have no index by account; see schema.sql).
ALTER TABLE batches ADD COLUMN account_id bigint;
UPDATE batches b SET account_id = c.account_id FROM campaigns c WHERE c.id = b.campaign_id;
CREATE INDEX batches_account_idx ON batches (account_id, id);

-- Where the replies to a sender go (an 'inbound' callback per message).
ALTER TABLE senders ADD COLUMN inbound_callback text;

ALTER TABLE callback_outbox
    DROP CONSTRAINT callback_outbox_kind_check,
    ADD CONSTRAINT callback_outbox_kind_check CHECK (kind IN ('message', 'campaign', 'clicked', 'inbound'));

CREATE TABLE idempotency_keys (
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key           text NOT NULL CHECK (key <> ''),
    request_hash  bytea NOT NULL CHECK (length(request_hash) = 32),
    status        smallint,
    answer        json,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

CREATE TABLE inbound_messages (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id        bigint REFERENCES accounts (id) ON DELETE CASCADE,
    sender_id         bigint REFERENCES senders (id) ON DELETE SET NULL,
    bind              text NOT NULL,
    source_addr       text NOT NULL,
    phone             text CHECK (phone ~ '^\+[1-9][0-9]{1,14}$'),
    destination_addr  text NOT NULL,
    text              text,
    data_coding       smallint NOT NULL CHECK (data_coding BETWEEN 0 AND 255),
    payload           bytea NOT NULL,
    parts             smallint NOT NULL DEFAULT 1 CHECK (parts BETWEEN 1 AND 255),
    missing_parts     smallint NOT NULL DEFAULT 0 CHECK (missing_parts BETWEEN 0 AND 254),
    keyword           text,
    action            text CHECK (action IN ('opt_out', 'opt_in')),
    received_at       timestamptz NOT NULL,
    stored_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbound_messages_account_idx ON inbound_messages (account_id, id);
CREATE INDEX inbound_messages_phone_idx ON inbound_messages (account_id, phone, id);
CREATE INDEX inbound_messages_sender_idx ON inbound_messages (sender_id, id);

CREATE TABLE inbound_parts (
    source_addr       text NOT NULL,
    destination_addr  text NOT NULL,
    reference         integer NOT NULL CHECK (reference BETWEEN 0 AND 65535),
    total             smallint NOT NULL CHECK (total BETWEEN 2 AND 255),
    seq               smallint NOT NULL CHECK (seq BETWEEN 1 AND 255),
    bind              text NOT NULL,
    data_coding       smallint NOT NULL CHECK (data_coding BETWEEN 0 AND 255),
    esm_class         smallint NOT NULL CHECK (esm_class BETWEEN 0 AND 255),
    user_data         bytea NOT NULL,
    received_at       timestamptz NOT NULL,
    PRIMARY KEY (source_addr, destination_addr, reference, total, seq)
);
CREATE INDEX inbound_parts_received_idx ON inbound_parts (received_at);
