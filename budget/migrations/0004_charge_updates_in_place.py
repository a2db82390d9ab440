"""``budget_charge`` updates its usage rows in place, and writes milestones only when one is due.

0003's version ran ``INSERT ... ON CONFLICT DO UPDATE`` for the per-model and per-day rows, and the
milestone ``INSERT`` on every charge. Both rows exist after a period's first call (and its first
day), and a milestone is due a handful of times a month, so each charge paid for an insert attempt
it threw away. Now it UPDATEs those rows and inserts only when the row is missing (the
``ON CONFLICT`` is kept for two first calls racing), and runs the milestone ``INSERT`` only when a
threshold is crossed and not yet recorded. The rules and the results are 0003's.
"""

import importlib

from django.db import migrations

CHARGE = """
CREATE OR REPLACE FUNCTION budget_charge(
    p_reservation bigint, p_cost bigint, p_model text, p_provider text,
    p_input bigint, p_output bigint, p_cache_read bigint, p_cache_write_5m bigint, p_cache_write_1h bigint,
    p_day date, p_now timestamptz, p_expires timestamptz,
    OUT from_held bigint, OUT held_before bigint, OUT milestone_ids bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_period bigint;
    v_status text;
    v_spent bigint;
    v_prs integer;
    v_executions integer;
BEGIN
    -- See ledger._in_database: charges need not wait for the WAL flush.
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT period_id, status, held_nanos INTO STRICT v_period, v_status, held_before
      FROM budget_reservation WHERE id = p_reservation FOR UPDATE;
    from_held := CASE WHEN v_status = 'open' THEN LEAST(p_cost, held_before) ELSE 0 END;
    UPDATE budget_reservation
       SET held_nanos = held_nanos - from_held, charged_nanos = charged_nanos + p_cost, expires_at = p_expires
     WHERE id = p_reservation;
    UPDATE budget_modelusage SET
        calls = calls + 1, input_tokens = input_tokens + p_input, output_tokens = output_tokens + p_output,
        cache_read_tokens = cache_read_tokens + p_cache_read,
        cache_write_5m_tokens = cache_write_5m_tokens + p_cache_write_5m,
        cache_write_1h_tokens = cache_write_1h_tokens + p_cache_write_1h, cost_nanos = cost_nanos + p_cost
     WHERE period_id = v_period AND model_name = p_model;
    IF NOT FOUND THEN
        INSERT INTO budget_modelusage AS u
            (period_id, model_name, provider, calls, input_tokens, output_tokens, cache_read_tokens,
             cache_write_5m_tokens, cache_write_1h_tokens, cost_nanos)
        VALUES (v_period, p_model, p_provider, 1, p_input, p_output, p_cache_read, p_cache_write_5m,
                p_cache_write_1h, p_cost)
        ON CONFLICT (period_id, model_name) DO UPDATE SET
            calls = u.calls + 1, input_tokens = u.input_tokens + p_input,
            output_tokens = u.output_tokens + p_output, cache_read_tokens = u.cache_read_tokens + p_cache_read,
            cache_write_5m_tokens = u.cache_write_5m_tokens + p_cache_write_5m,
            cache_write_1h_tokens = u.cache_write_1h_tokens + p_cache_write_1h, cost_nanos = u.cost_nanos + p_cost;
    END IF;
    UPDATE budget_dailyusage SET cost_nanos = cost_nanos + p_cost, calls = calls + 1
     WHERE period_id = v_period AND day = p_day;
    IF NOT FOUND THEN
        INSERT INTO budget_dailyusage AS d (period_id, day, cost_nanos, calls, executions, prs)
        VALUES (v_period, p_day, p_cost, 1, 0, 0)
        ON CONFLICT (period_id, day) DO UPDATE SET cost_nanos = d.cost_nanos + p_cost, calls = d.calls + 1;
    END IF;
    -- The period row last: its lock is the contended one, so hold it for the least time.
    UPDATE budget_period SET spent_nanos = spent_nanos + p_cost, reserved_nanos = reserved_nanos - from_held
     WHERE id = v_period
    RETURNING spent_nanos, prs_count, executions_count INTO v_spent, v_prs, v_executions;
    -- A milestone for every threshold now crossed, once: only this call's new rows come back.
    milestone_ids := '{}';
    IF EXISTS (SELECT 1 FROM budget_threshold t
                WHERE t.enabled AND t.amount_nanos <= v_spent
                  AND NOT EXISTS (SELECT 1 FROM budget_milestone m
                                   WHERE m.period_id = v_period AND m.threshold_nanos = t.amount_nanos)) THEN
        WITH created AS (
            INSERT INTO budget_milestone
                (period_id, threshold_nanos, reached_at, spent_nanos, prs_count, executions_count)
            SELECT v_period, t.amount_nanos, p_now, v_spent, v_prs, v_executions
              FROM budget_threshold t
             WHERE t.enabled AND t.amount_nanos <= v_spent
               AND NOT EXISTS (SELECT 1 FROM budget_milestone m
                                WHERE m.period_id = v_period AND m.threshold_nanos = t.amount_nanos)
            ON CONFLICT (period_id, threshold_nanos) DO NOTHING
            RETURNING id
        )
        SELECT coalesce(array_agg(id), '{}') INTO milestone_ids FROM created;
    END IF;
END $$;
"""


# Going back restores 0003's functions as they were.
ledger_functions = importlib.import_module("budget.migrations.0003_ledger_functions")
run_on_postgresql = ledger_functions.run_on_postgresql


class Migration(migrations.Migration):
    dependencies = [("budget", "0003_ledger_functions")]

    operations = [migrations.RunPython(run_on_postgresql(CHARGE), run_on_postgresql(ledger_functions.FUNCTIONS))]
