"""Use cases: registration, admin, token endpoint, discovery, INDIGO IAM shapes.

No Starlette and no SQL here."""
