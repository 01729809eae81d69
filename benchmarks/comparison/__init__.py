"""A small site that serves every benchmark contender from one settings module."""
