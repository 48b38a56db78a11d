"""drn: Dense Regression Network for temporal video grounding, with compiled temporal ops."""

__version__ = "0.1.0"
