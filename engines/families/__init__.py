"""One module per family. Each module defines a config dataclass, its networks and an Engine."""
