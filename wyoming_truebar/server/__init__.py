"""The Wyoming side: the TCP/Unix server, one connection and one handler per client,
the utterance from `transcribe` to `transcript`, audio conversion, languages, the process's
shared context and its metrics. It owns the client's contract (every failure an `error` event
with a stable code) and may import `home`, `ending`, `truebar` and `config`; only `app` imports
it.
"""
