"""Settings and what they are made of: the options table (every setting's flag,
environment variable and default), its validators, and the error taxonomy every layer raises.
The foundation: it imports nothing else of the package.
"""
