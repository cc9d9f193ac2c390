"""Training data: prepared records -> mace-torch graphs -> batches for 1 or N processes."""
