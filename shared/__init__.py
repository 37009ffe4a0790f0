"""Tollgate's common library: settings, logs, metrics, health, database, Redis,
migrations, errors and the internal-call contract shared by every service."""
