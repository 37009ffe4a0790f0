"""The console's pages, one module per area; each adds its routes with `add_routes`.

Pages are thin (STYLE.md, "The console"): a handler calls the JSON API
through `api_client.call` as the signed-in browser, hands a plain dict to a
template (`render.render`), and for a form redirects or renders the page
again with the API's problem.
"""
