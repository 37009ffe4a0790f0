"""Benchmarks: standalone measurements run by hand, never by the test suite.

`billing_charge.py` and `usage_record.py` run as scripts; `overhead/` is a
package run as `bench/overhead/run` (see its `__init__`).
"""
