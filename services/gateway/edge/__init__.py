"""The edge: `/api` forwarding to the services and the console behind it; headers, CSRF, status."""
