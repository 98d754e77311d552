"""A local, protocol-faithful stand-in for the Truebar streaming speech-to-text service."""
