-- Campaign insight (issue 19): tracked links, opt-out links, clicks, reports by country.
-- - a campaign may carry a tracked link (%Link%: track_link_url with track_link_params) and
--   an opt-out link (%OptOutLink%: opt_out_link); a run may override the URL, and its batch
--   keeps where its links redirect (link_url), so a later edit does not move sent links;
-- - each link of each message has a code of its own (links), COPYed at expansion;
-- - clicks and confirmed opt-outs are events (link_events), only ever inserted;
-- - a message keeps its destination's country, for reports by country;
-- - the blacklist knows numbers that opted out through a link, the outbox `clicked`
--   callbacks;
-- - a campaign's explicit recipients are indexed in the order they were added, so a page of
--   GET .../recipients reads only its rows.
ALTER TABLE campaigns
    ADD COLUMN track_link_url text CHECK (track_link_url ~ '^https?://'),
    ADD COLUMN track_link_params jsonb NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(track_link_params) = 'object'),
    ADD COLUMN opt_out_link boolean NOT NULL DEFAULT false;
ALTER TABLE batches ADD COLUMN link_url text;
ALTER TABLE messages ADD COLUMN country text;
DROP INDEX campaign_recipients_campaign_idx;
CREATE INDEX campaign_recipients_campaign_idx ON campaign_recipients (campaign_id, id);
ALTER TABLE blacklist DROP CONSTRAINT blacklist_source_check;
ALTER TABLE blacklist ADD CONSTRAINT blacklist_source_check
    CHECK (source IN ('api', 'opt_out', 'opt_out_link'));
ALTER TABLE callback_outbox DROP CONSTRAINT callback_outbox_kind_check;
ALTER TABLE callback_outbox ADD CONSTRAINT callback_outbox_kind_check
    CHECK (kind IN ('message', 'campaign', 'clicked'));

CREATE TABLE links (
    code        text PRIMARY KEY,
    message_id  bigint NOT NULL,
    batch_id    bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('click', 'opt_out'))
);
CREATE INDEX links_message_idx ON links (message_id);

CREATE TABLE link_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id   bigint NOT NULL,
    campaign_id  bigint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('click', 'opt_out')),
    at           timestamptz NOT NULL,
    user_agent   text
);
CREATE INDEX link_events_message_idx ON link_events (message_id, kind);
CREATE INDEX link_events_campaign_idx ON link_events (campaign_id, at);
CREATE UNIQUE INDEX link_events_opt_out_idx ON link_events (message_id) WHERE kind = 'opt_out';
