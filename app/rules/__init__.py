"""Pure rules: client metadata, URI rules, registration policies; no I/O, no clock."""
