"""Wyoming speech-to-text server that streams satellite audio live to Truebar."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wyoming-truebar")
    """The package's version: pyproject.toml is its one source."""
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
