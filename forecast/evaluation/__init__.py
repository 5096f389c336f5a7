"""Out-of-sample evaluation: scoring rules and rolling-origin backtests."""
