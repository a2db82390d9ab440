"""``budget_charge`` locks the period row before the per-model and per-day rows, as every ledger write does.

0004's charge updated the usage rows first and the period row last, to hold the contended period
lock for the least time. But an execution's start locks them the other way round in one
transaction: its reservation takes the period row, then counting the execution updates the day's
row. A charge of another execution arriving in between held the day's row and waited for the
period, the start waited for the day's row, and PostgreSQL broke the deadlock by failing one of
them: a charge lost after its vendor call was paid for, or a start refused. Now every ledger write
takes the reservation, then the period row, then the usage rows. The rules and the results are
0004's, and so is the throughput (``benchmarks/ledger.py``, interleaved runs).
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
    -- The period row before the usage rows, as in every ledger write (module docstring).
    UPDATE budget_period SET spent_nanos = spent_nanos + p_cost, reserved_nanos = reserved_nanos - from_held
     WHERE id = v_period
    RETURNING spent_nanos, prs_count, executions_count INTO v_spent, v_prs, v_executions;
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

# Going back restores 0004's charge as it was.
previous = importlib.import_module("budget.migrations.0004_charge_updates_in_place")


class Migration(migrations.Migration):
    dependencies = [("budget", "0004_charge_updates_in_place")]

    operations = [
        migrations.RunPython(previous.run_on_postgresql(CHARGE), previous.run_on_postgresql(previous.CHARGE))
    ]
