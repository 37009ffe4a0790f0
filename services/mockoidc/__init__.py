"""The mock OpenID/OAuth provider: a Google-like OpenID Connect issuer and a
GitHub-like OAuth 2 server on one port, for `tollgate dev` and tests. Never
for production: anyone reaching its page signs in as whoever they type."""
