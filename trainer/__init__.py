"""Trains autoencoders and publishes each result to the model store."""

__version__ = "0.1.0"
