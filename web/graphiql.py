"""The GraphiQL page at GET /graphql, served entirely from this package (no CDN).

React, ReactDOM and GraphiQL are vendored under web/static/vendor/graphiql/ at pinned versions
(its README says which and how to refresh them); the page's own script is a static file too, so
the page runs under the site's Content-Security-Policy with no inline script.
"""

from __future__ import annotations

from web.render import static_url

VENDOR = "/static/vendor/graphiql"

GRAPHIQL_HTML = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL · heartchain</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{VENDOR}/graphiql.min.css">
<link rel="stylesheet" href="{static_url('graphiql-start.css')}">
</head>
<body>
<div id="graphiql">Loading…</div>
<script src="{VENDOR}/react.production.min.js"></script>
<script src="{VENDOR}/react-dom.production.min.js"></script>
<script src="{VENDOR}/graphiql.min.js"></script>
<script src="{static_url('graphiql-start.js')}"></script>
</body>
</html>
"""
