"""Benchmarks that time tinydl against references (NumPy by hand, PyTorch CPU when installed).

Run them all with `python -m benchmarks`, or some with `python -m benchmarks overhead conv`.
See benchmarks/README.md for how to add a workload module.
"""
