"""Widgets more than one panel uses. Docks import from here, never from each other."""
