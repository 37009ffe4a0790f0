"""Metering: holds before a request, provider usage after it, and the usage event published."""
