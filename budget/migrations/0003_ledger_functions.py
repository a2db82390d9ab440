"""The ledger's three writes as PostgreSQL functions: one round trip each instead of up to nine.

Every worker updates the same period row (and the same day's usage row), so the time a row lock is
held decides how many cycles a second the whole fleet can do. Inside a function the statements
run back to back in the server, and the lock is held for microseconds instead of for several
network round trips. The rules are the same as ``budget/ledger.py``'s portable path, which SQLite
uses (it serialises writers anyway); the test suite runs both, against the same tests.
"""

from django.db import migrations

FUNCTIONS = """
CREATE OR REPLACE FUNCTION budget_reserve(
    p_period bigint, p_amount bigint, p_label text, p_now timestamptz, p_expires timestamptz
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    reservation_id bigint;
BEGIN
    -- The one write that raises reserved: only if spent + reserved + amount <= limit.
    UPDATE budget_period SET reserved_nanos = reserved_nanos + p_amount
     WHERE id = p_period AND closed_at IS NULL AND spent_nanos + reserved_nanos + p_amount <= limit_nanos;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO budget_reservation
        (period_id, label, amount_nanos, held_nanos, charged_nanos, status, created_at, expires_at)
    VALUES (p_period, p_label, p_amount, p_amount, 0, 'open', p_now, p_expires)
    RETURNING id INTO reservation_id;
    RETURN reservation_id;
END $$;

CREATE OR REPLACE FUNCTION budget_charge(
    p_reservation bigint, p_cost bigint, p_model text, p_provider text,
    p_input bigint, p_output bigint, p_cache_read bigint, p_cache_write_5m bigint, p_cache_write_1h bigint,
    p_day date, p_now timestamptz, p_expires timestamptz,
    OUT from_held bigint, OUT held_before bigint, OUT milestone_ids bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_spent bigint;
    v_prs integer;
    v_executions integer;
BEGIN
    -- See ledger._commit_without_waiting_for_flush: charges need not wait for the WAL flush.
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT * INTO STRICT r FROM budget_reservation WHERE id = p_reservation FOR UPDATE;
    held_before := r.held_nanos;
    from_held := CASE WHEN r.status = 'open' THEN LEAST(p_cost, r.held_nanos) ELSE 0 END;
    UPDATE budget_reservation
       SET held_nanos = held_nanos - from_held, charged_nanos = charged_nanos + p_cost, expires_at = p_expires
     WHERE id = p_reservation;
    INSERT INTO budget_modelusage AS u
        (period_id, model_name, provider, calls, input_tokens, output_tokens, cache_read_tokens,
         cache_write_5m_tokens, cache_write_1h_tokens, cost_nanos)
    VALUES (r.period_id, p_model, p_provider, 1, p_input, p_output, p_cache_read, p_cache_write_5m,
            p_cache_write_1h, p_cost)
    ON CONFLICT (period_id, model_name) DO UPDATE SET
        calls = u.calls + 1, input_tokens = u.input_tokens + p_input,
        output_tokens = u.output_tokens + p_output, cache_read_tokens = u.cache_read_tokens + p_cache_read,
        cache_write_5m_tokens = u.cache_write_5m_tokens + p_cache_write_5m,
        cache_write_1h_tokens = u.cache_write_1h_tokens + p_cache_write_1h, cost_nanos = u.cost_nanos + p_cost;
    INSERT INTO budget_dailyusage AS d (period_id, day, cost_nanos, calls, executions, prs)
    VALUES (r.period_id, p_day, p_cost, 1, 0, 0)
    ON CONFLICT (period_id, day) DO UPDATE SET cost_nanos = d.cost_nanos + p_cost, calls = d.calls + 1;
    UPDATE budget_period SET spent_nanos = spent_nanos + p_cost, reserved_nanos = reserved_nanos - from_held
     WHERE id = r.period_id
    RETURNING spent_nanos, prs_count, executions_count INTO v_spent, v_prs, v_executions;
    -- A milestone for every threshold now crossed, once: only this call's new rows come back.
    WITH created AS (
        INSERT INTO budget_milestone
            (period_id, threshold_nanos, reached_at, spent_nanos, prs_count, executions_count)
        SELECT r.period_id, t.amount_nanos, p_now, v_spent, v_prs, v_executions
          FROM budget_threshold t
         WHERE t.enabled AND t.amount_nanos <= v_spent
           AND NOT EXISTS (SELECT 1 FROM budget_milestone m
                            WHERE m.period_id = r.period_id AND m.threshold_nanos = t.amount_nanos)
        ON CONFLICT (period_id, threshold_nanos) DO NOTHING
        RETURNING id
    )
    SELECT coalesce(array_agg(id), '{}') INTO milestone_ids FROM created;
END $$;

CREATE OR REPLACE FUNCTION budget_release(p_reservation bigint, p_status text, p_now timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT * INTO r FROM budget_reservation WHERE id = p_reservation AND status = 'open' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;  -- already released or expired: releasing again does nothing
    END IF;
    UPDATE budget_reservation SET status = p_status, held_nanos = 0, closed_at = p_now WHERE id = p_reservation;
    UPDATE budget_period SET reserved_nanos = reserved_nanos - r.held_nanos WHERE id = r.period_id;
    RETURN r.held_nanos;
END $$;
"""

DROP = """
DROP FUNCTION IF EXISTS budget_reserve(bigint, bigint, text, timestamptz, timestamptz);
DROP FUNCTION IF EXISTS budget_charge(bigint, bigint, text, text, bigint, bigint, bigint, bigint, bigint,
                                      date, timestamptz, timestamptz);
DROP FUNCTION IF EXISTS budget_release(bigint, text, timestamptz);
"""


def run_on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("budget", "0002_seed_catalog")]

    operations = [migrations.RunPython(run_on_postgresql(FUNCTIONS), run_on_postgresql(DROP))]
