-- Placeholder on the 'links' branch only: migration 0010 belongs to the 'trips' branch, and
-- migration numbers must run 1, 2, 3... (herald.store.migrations). Delete this file when the
-- real 0010 lands (if none does, renumber 0011 down instead).
SELECT 1;
