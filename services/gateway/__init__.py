"""Tollgate gateway."""
