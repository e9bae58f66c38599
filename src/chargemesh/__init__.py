"""chargemesh: one map for every charging network."""

__version__ = "0.1.0"
