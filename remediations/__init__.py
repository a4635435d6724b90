"""Remediations: pyinfra operations that fix what the checks find, one module per check (issue 5)."""
