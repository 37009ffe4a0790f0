"""The web console: server-rendered pages behind the gateway (issue 17)."""
