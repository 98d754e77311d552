"""Wyoming speech-to-text server that streams satellite audio live to Truebar."""

__version__ = "0.1.0"
