"""The scan gate's decisions outside the state machine."""
