"""Experiments and what is measured on them: evaluation rows, the benchmark, reports, projections."""
