"""Benchmarks of the local stack (`make bench`)."""
