-- The send path's batched writes pass one array of rows per kind (see schema.sql).
CREATE TYPE part_result AS (          -- a submit_sm_resp's outcome for one part
    message_id      bigint,
    seq             smallint,
    state           text,
    smsc_id         text,
    canonical_id    text,
    command_status  integer,
    submitted_at    timestamptz,
    bind            text
);
CREATE TYPE part_receipted AS (       -- the same, with its receipt, when both came in one flush
    message_id      bigint,
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
