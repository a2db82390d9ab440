"""``budget_reserve`` commits without waiting for the WAL flush; ``ledger.reserve`` then waits for it.

A commit that waits for the flush keeps its row locks until the flush is done, and every ledger
call updates the period row: each reservation held it for a disk flush, and the other calls queued
behind it (on two cores, the queue cost more CPU than the calls themselves). The reservation must
still be on disk before the call it pays for, so ``ledger.reserve`` waits for the flush right after
the commit, with no lock held (``ledger._wait_for_flush``).
"""

import importlib

from django.db import migrations

DO_NOT_WAIT = "    PERFORM set_config('synchronous_commit', 'off', true);  -- see ledger._wait_for_flush\n"

RESERVE = (
    """
CREATE OR REPLACE FUNCTION budget_reserve(
    p_period bigint, p_amount bigint, p_label text, p_now timestamptz, p_expires timestamptz
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    reservation_id bigint;
BEGIN
"""
    + DO_NOT_WAIT
    + """    -- The one write that raises reserved: only if spent + reserved + amount <= limit.
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
"""
)

run_on_postgresql = importlib.import_module("budget.migrations.0003_ledger_functions").run_on_postgresql


class Migration(migrations.Migration):
    dependencies = [("budget", "0005_charge_locks_the_period_first")]

    # Going back: 0003's reserve, which waited for the flush in its own commit.
    operations = [
        migrations.RunPython(run_on_postgresql(RESERVE), run_on_postgresql(RESERVE.replace(DO_NOT_WAIT, "")))
    ]
