"""Home Assistant in the loop (run by script/test-ha in its own venv)."""
