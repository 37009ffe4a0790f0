"""Tollgate auth."""
