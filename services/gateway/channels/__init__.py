"""Channels: the upstream accounts a model is served by, their choice, health and admin."""
