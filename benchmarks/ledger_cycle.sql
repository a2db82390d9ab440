-- The ledger benchmark's cycle as SQL alone, for pgbench: what PostgreSQL can do with no Python.
--
--   createdb -h 127.0.0.1 -U postgres bench_sql
--   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_sql python manage.py migrate
--   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_sql python manage.py shell -c \
--     "from budget.periods import current_period, set_limit; set_limit(current_period(), '1000000')"
--   pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 32 -j 2 -T 10 -f benchmarks/ledger_cycle.sql bench_sql
--
-- -M prepared, because the ledger's calls are prepared statements (budget.ledger._call).
-- Period 1 is the one the commands above open. Each transaction pgbench reports is one cycle.
\set analysis random(1, 50000000)
\set codegen random(1, 10000000)
SELECT budget_reserve(1, 90000000, '', now(), now() + interval '1 hour') AS reservation \gset
SELECT pg_current_xact_id();  -- ledger._wait_for_flush: the reservation is on disk
SELECT * FROM budget_charge(:reservation, :analysis, 'claude-sonnet-4-5', 'anthropic', 2000, 1500, 0, 0, 0,
                            current_date, now(), now() + interval '1 hour');
SELECT * FROM budget_charge(:reservation, :codegen, 'gpt-4o-mini', 'openai', 2500, 4000, 0, 0, 0,
                            current_date, now(), now() + interval '1 hour');
SELECT budget_release(:reservation, 'released', now());
