"""Tollgate usage."""
