"""The demo: a synthetic home written into a real Home Assistant configuration, and its check."""
