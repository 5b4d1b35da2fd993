"""Planning logic that notebooks import too: capacity against rate limits, route costs, migration ROI."""
