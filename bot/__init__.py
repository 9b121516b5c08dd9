"""syndbot: a newsroom's new articles reach its social accounts exactly once."""

__version__ = "0.1.0"
