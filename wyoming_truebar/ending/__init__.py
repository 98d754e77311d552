"""The end of the command, pure: the voice activity detector and the endpointer's rules,
Truebar's running text placed on the stream (`heard`), the meter that learns the service's
conventions from evidence that agrees, and whether a client speaks live. It owns no I/O and may
import only `truebar.protocol` (the segments it reads) and `config`.
"""
