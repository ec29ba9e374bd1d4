"""genstudio's desktop studio (Qt). Importing this package does not import Qt."""
