"""Kept for imports written before the CLI became a package: see :mod:`panning.cli.seals`."""

from __future__ import annotations

from .cli.seals import rare_concepts, register, simulate_concept, split_test

__all__ = ["register", "simulate_concept", "split_test", "rare_concepts"]
