-- Carriers reuse message ids (a restart resets their counter, short ids wrap): a receipt
-- belongs to the newest part with its id submitted before it arrived, not to any part with
-- that id. parts_receipt_idx gains submitted_at so that apply_receipts finds that part by
-- walking the index backwards from the receipt's time, however often the id came back.
-- Building it reads all of parts once and blocks writes to parts meanwhile.
DROP INDEX parts_receipt_idx;
CREATE INDEX parts_receipt_idx ON parts (bind, canonical_id, submitted_at)
    WHERE canonical_id IS NOT NULL;
