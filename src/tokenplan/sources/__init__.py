"""Usage sources: what each provider's usage API or export means, mapped to canonical columns.

One module per source, plus the pieces they share:

- ``http_client``: paginated JSON over HTTPS with retries, back-off and no key in any message.
- ``time_window``: the report window (absolute or a look-back) in UTC.
- ``quiet_buckets``: a bucket an API reported without a series' usage is a zero, not a gap.
- ``anthropic_admin``: Anthropic Admin API ``usage_report/messages`` and ``cost_report``.
- ``openai_usage``: OpenAI organization ``usage/completions``.
- ``anthropic_console``: the Anthropic Console usage CSV export.

Kedro datasets in ``tokenplan.datasets`` call these; notebooks can call them directly.
"""
