"""The gateway-overhead comparison (issue 6): one command, one results table.

`bench/overhead/run` installs what is missing (nginx and wrk from Debian,
LiteLLM into `.bench/litellm-venv`), then runs `compare`, which starts every
process it measures against a private nginx mock upstream, measures the
targets side by side in interleaved rounds, writes `results.md` and stops
everything it started, on success, error or Ctrl-C alike.

Modules, one concept each: `processes` (child processes and ports),
`upstream` (nginx), `stack` (Tollgate's processes and stores), `seeding`
(accounts, channels and prices through the public API), `litellm`,
`bare_proxy` (the floor), `wrk`, `sse_load`, `memory`, `machine`, `pyspy`,
`report` (the table) and `compare` (the driver).
"""
