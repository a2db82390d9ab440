"""Batch mode: both model steps through the vendors' batch APIs at half price (``passes``: one
idempotent pass that submits, polls and finishes).

A coordinator: it drives ``pipeline``'s public functions and may import everything below it; no
other coordinator (``scheduling``, ``costs``) imports it, nor it them.
"""
