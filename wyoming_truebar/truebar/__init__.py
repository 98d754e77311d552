"""The Truebar side: the WebSocket session (the transport, which sends audio and
receives messages and tells a listener of them), the wire protocol, the credentials cache and
its circuit breaker, pipeline discovery, the answer budget and network helpers (proxies,
certificates, redaction). It owns every byte to and from Truebar and may import only `config`.
"""
