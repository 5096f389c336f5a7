"""Short-series forecast models: the samples type, one module per model family, the registry."""
