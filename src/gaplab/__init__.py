"""gaplab: a lab for regularization and generalization in neural networks."""

__version__ = "0.1.0"
