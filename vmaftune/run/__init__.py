"""The jobs: each a function of a typed request returning a Run (see events.py)."""
