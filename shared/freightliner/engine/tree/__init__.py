"""Tree syncs: listings, the local run with checkpoints, the fan-out through the queue."""
