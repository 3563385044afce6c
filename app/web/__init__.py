"""The web layer: Starlette routes, the fast lane, request limits, request helpers, the console."""
