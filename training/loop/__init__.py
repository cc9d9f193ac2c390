"""The training loop and its pieces: distributed set-up, losses, schedule, checkpoints, logs, error
sums."""
