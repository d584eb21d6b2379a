-- The send path's batched writes pass one array of rows per kind (see schema.sql).
CREATE TYPE part_outcome AS (         -- a part's submit_sm_resp, and its receipt when both
    message_id      bigint,           -- came in one flush (else the last four are NULL)
    seq             smallint,
    state           text,
    smsc_id         text,
    canonical_id    text,
    command_status  integer,
    submitted_at    timestamptz,
    bind            text,
    receipt_state   smallint,
    receipt_error   text,
    network_error   text,
    receipt_at      timestamptz
);
CREATE TYPE status_move AS (          -- a message status compare-and-set
    id          bigint,
    expected    text,
    status      text,
    reason      text,
    not_before  timestamptz,
    at          timestamptz
);
