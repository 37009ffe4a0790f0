"""The mock provider: OpenAI, Anthropic and Gemini wire formats with no real key.

A standalone aiohttp service (`python -m services.mockprovider`) that answers
the provider endpoints Tollgate relays, byte-compatible with the official SDKs:
deterministic output derived from the request, usage numbers computable by
`services.mockprovider.tokens`, and fault injection (`behaviour`) so tests can
drive failover, resets, stalls and client disconnects. It never stores or logs
prompt or completion text; `/mock/stats` keeps counts and timestamps only.
"""
