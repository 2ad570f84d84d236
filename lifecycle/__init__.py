"""lifecycle: declarative ML lifecycle specs, compiled to plans that run on Ray."""

__version__ = "0.1.0"
