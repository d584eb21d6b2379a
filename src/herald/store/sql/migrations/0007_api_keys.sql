-- Placeholder for migration 0007, which the `hardening` branch brings (API keys): migration
-- numbers must run 1, 2, 3... (store/migrations.py), and this branch's 0008 follows it. Both
-- branches add this path, so merging them conflicts here: keep the hardening branch's file.
SELECT 1;
