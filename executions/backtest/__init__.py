"""Backtests: a repository's own merged pull requests replayed to measure what the product would
have seen (context mode) and done (model mode). ``manage.py backtest`` runs one.

- ``cases``: a case (the task, its base commit, the files and definitions the real change touched)
  and the rules that choose one; ``local_history`` and ``github_history`` read them from a local
  git repository or from GitHub's pull requests.
- ``prompt``: the analyst's prompt at the case's base, built by the pipeline itself
  (``pipeline.analysis_request_at``), and what it holds of the real change.
- ``runs``: a whole run, stored as ``BacktestRun`` and its ``BacktestCase`` rows; ``report``:
  its table and its JSON.

A coordinator: it may import the pipeline and everything below it (the context, the gateways,
the models), ``budget`` and ``notifications``; no other coordinator imports it, nor it them. In
``executions`` only the admin (``report``) and the ``backtest`` command import it.
"""
