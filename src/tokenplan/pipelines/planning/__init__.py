"""Planning: capacity against rate limits, the gateway config, cost per route and migration ROI."""
