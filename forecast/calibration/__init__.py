"""Calibration: new annual figures → validated intake → diff → scores of the last forecast → weights → a new vintage."""
