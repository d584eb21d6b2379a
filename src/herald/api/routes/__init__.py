"""One module per resource under /v1; each exposes `router`."""
