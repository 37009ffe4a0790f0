"""Money in (DESIGN 12): orders, payment providers, top-ups and webhooks."""
