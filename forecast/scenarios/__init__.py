"""Scenarios: their definitions (models/scenarios.toml) and the scenario forecasts of every series."""
