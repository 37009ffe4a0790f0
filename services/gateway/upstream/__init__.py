"""The upstream HTTP client: pooled connections to the channels, and the address guard."""
