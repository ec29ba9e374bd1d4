"""Where training runs: processes and their collectives (torch.distributed). Below families, above data."""
