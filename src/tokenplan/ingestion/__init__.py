"""Ingestion: request-level logs to buckets, the canonical usage table, implausible values,
and which file a loaded frame came from (the API and export readers are in ``tokenplan.sources``)."""
