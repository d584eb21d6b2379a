-- The registry of herald processes on this database (herald.delivery.nodes): heartbeats and,
-- per carrier account, what each process has and claims (herald/delivery/shares.py).

-- name: node_heartbeat
-- Process $1 is alive (version $2, host $3, pid $4), its latest read of the registry began
-- at $5, and these are its claims per carrier account (the arrays $6 to $13, one element per
-- account), replacing its earlier ones. A row whose host and pid differ is an earlier process
-- of the same name (restarted): it starts over (started_at), as the youngest process.
WITH node AS (
    INSERT INTO nodes AS n (name, version, host, pid, read_at)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (name) DO UPDATE
    SET version = EXCLUDED.version, host = EXCLUDED.host, pid = EXCLUDED.pid,
        heartbeat_at = now(), read_at = EXCLUDED.read_at,
        started_at = CASE WHEN n.host = EXCLUDED.host AND n.pid = EXCLUDED.pid
                          THEN n.started_at ELSE now() END
    RETURNING n.name
)
INSERT INTO node_accounts AS a
       (node, account, rate, burst, max_binds, binds, claimed, started, bound)
SELECT node.name, c.account, c.rate, c.burst, c.max_binds, c.binds, c.claimed, c.started,
       c.bound
FROM node,
     unnest($6::text[], $7::float8[], $8::int[], $9::int[], $10::int[], $11::int[],
            $12::int[], $13::int[])
         AS c(account, rate, burst, max_binds, binds, claimed, started, bound)
ON CONFLICT (node, account) DO UPDATE
SET rate = EXCLUDED.rate, burst = EXCLUDED.burst, max_binds = EXCLUDED.max_binds,
    binds = EXCLUDED.binds, claimed = EXCLUDED.claimed, started = EXCLUDED.started,
    bound = EXCLUDED.bound;

-- name: read_nodes
-- Every process heard from within the last $1 seconds, with its claims per carrier account (a
-- process without binds has one row, account NULL), and the database's time: the start of
-- this read, which every claim committed before it is visible to. Always one row at least
-- (name NULL when nobody is live), for the time.
SELECT now() AS read_at, live.*
FROM (VALUES (1)) AS one (x)
LEFT JOIN (
    SELECT n.name, n.started_at, n.read_at AS node_read_at, a.account, a.rate, a.burst,
           a.max_binds, a.binds, a.claimed, a.started, a.bound
    FROM nodes n
    LEFT JOIN node_accounts a ON a.node = n.name
    WHERE n.heartbeat_at > now() - make_interval(secs => $1)
) AS live ON true;

-- name: leave_nodes
-- Process $1 stops (its host and pid $2, $3: not a newer process that took its name): its
-- part of each carrier account goes back to the others at their next read.
DELETE FROM nodes WHERE name = $1 AND host = $2 AND pid = $3;

-- name: forget_nodes
-- Processes not heard from for $1 seconds, with their claims (nodes_heartbeat_idx).
DELETE FROM nodes WHERE heartbeat_at < now() - make_interval(secs => $1);
