"""Foundations every stage uses: errors and warnings, reading a user's text files, the TOML reader,
safe output writing (atomic files, the locked output folder, CSV without formulas), where the
embedded files live, diagnostics thresholds, the band summary, number formatting."""
