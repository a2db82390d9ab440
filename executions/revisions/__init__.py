"""Revisions: follow-up commits on the product's pull requests (``lifecycle``: asked, claimed,
started from the PR's head, committed, succeeded or failed) and the feedback a revision's analyst
is shown, read once and cut (``feedback``). What on GitHub asks for one is ``github.triggers``.

May import ``analysis`` (the revision's part of the prompt), ``repositories`` (the gateway, the
comments, the PR body) and below. Never ``github`` or the pipeline.
"""
