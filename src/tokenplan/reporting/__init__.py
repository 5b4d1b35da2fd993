"""Report sections: each renders one part of report.md from the tables the other stages computed."""
