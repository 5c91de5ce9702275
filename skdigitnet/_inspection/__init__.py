"""Pictures of a network, in scikit-learn's Display pattern."""
