-- Placeholder on the 'links' branch only: migration 0008 belongs to the 'fair' branch, and
-- migration numbers must run 1, 2, 3... (herald.store.migrations). Delete this file when the
-- real 0008 lands (if none does, renumber 0011 down instead).
SELECT 1;
