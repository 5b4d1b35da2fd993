"""Jinja2 templates of the report (package data: reword the report here, no Python needed)."""
