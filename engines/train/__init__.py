"""The one training loop, its events, checkpoints and run folders."""
