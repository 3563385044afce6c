"""Hypothesis profiles: how many examples the property and fuzz tests draw.

`dev` (the default): few, for a quick full run on a laptop; `ci` (the default when CI is set,
as on CI): the thorough run; `deep`: a long run by hand. HYPOTHESIS_PROFILE=<name> picks one.
A profile sets max_examples per HTTP property of tests/test_properties.py; its pure-model
property draws five times as many, and tests/test_schemathesis.py an eighth per operation (each
of those examples is a request to a real server)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from hypothesis import settings

EXAMPLES = {"dev": 40, "ci": 320, "deep": 5000}


def chosen(environ: Mapping[str, str]) -> str:
    name = environ.get("HYPOTHESIS_PROFILE", "")
    if name:
        return name
    return "ci" if environ.get("CI", "").lower() not in ("", "0", "false") else "dev"


def load(environ: Mapping[str, str] = os.environ) -> str:
    """Register every profile and load the chosen one (an unknown name fails here)."""
    for name, examples in EXAMPLES.items():
        settings.register_profile(name, max_examples=examples, print_blob=name != "dev")
    name = chosen(environ)
    settings.load_profile(name)
    return name
