-- Placeholder on the 'links' branch only: migration 0009 belongs to the 'receipts' branch, and
-- migration numbers must run 1, 2, 3... (herald.store.migrations). Delete this file when the
-- real 0009 lands (if none does, renumber 0011 down instead).
SELECT 1;
