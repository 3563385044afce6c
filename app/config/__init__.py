"""Configuration: settings, realm models, the realm registry (hot reload)."""
