"""Evals: YAML conversation cases run against the agent, scored into a scorecard."""
