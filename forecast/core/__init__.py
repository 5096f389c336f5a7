"""Foundations every stage uses: errors, atomic output writing, the TOML reader, where the embedded
files live, diagnostics thresholds, the band summary, number formatting."""
