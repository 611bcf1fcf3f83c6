"""Benchmarks of the project (``make bench``): measured figures, never pass/fail tests."""
