"""Network blocks shared by more than one family."""
