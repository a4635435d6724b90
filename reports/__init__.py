"""Reports: per-unit and provincial aggregation and renderers over the store (issue 6)."""
