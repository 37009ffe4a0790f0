"""Tollgate cli."""
