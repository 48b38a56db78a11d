"""Small helpers every layer may use: atomic file writing and JSON (lines), plots, thread limits."""
