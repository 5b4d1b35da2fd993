"""An organisation's plan: teams, API keys and models that add up, budgets, chargeback, the month-to-date monitor."""
