"""Tests of metering end to end: charging, cut-short calls, and the faults of DESIGN.md 6."""

import pytest

# The fault tests' shared checks (`fault_stack`) assert: pytest explains their
# failures as it does a test module's own asserts.
pytest.register_assert_rewrite("tests.metering.fault_stack")
