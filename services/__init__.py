"""Tollgate services."""
