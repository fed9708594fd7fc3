"""Benchmarks: this project against its peers, side by side (``python -m bench --help``)."""
