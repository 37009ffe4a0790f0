"""Tollgate billing."""
