"""Training machinery: the data in memory, EMA, checkpoints, progress log, distributed processes."""
