"""Runs: stages applied to the store (judge; later ingest, enrich and the scheduler)."""
