"""The data: vocabulary, the contract and its validation, dataset loading, the vintage store (and its
history), provenance."""
