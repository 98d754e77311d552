"""The project's exception tree: each class carries the stable code of its Wyoming `error`."""

from __future__ import annotations


class BridgeError(Exception):
    """A failure that ends an utterance; `code` goes to the client, `str()` is a safe sentence."""

    code = "internal_error"
    retryable = False
    """Whether a new Truebar session may overcome it (the utterance is then replayed)."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail
        """Extra context for the log only (never secrets)."""


class AuthError(BridgeError):
    """Truebar refused the credentials (bad user or password, missing role)."""

    code = "auth_failed"


class ServiceUnavailableError(BridgeError):
    """Truebar or its token endpoint could not be reached or answered 5xx."""

    code = "service_unavailable"
    retryable = True


class CertificateError(ServiceUnavailableError):
    """Truebar's TLS certificate is not trusted: a set-up problem (ca_file), not retried."""

    retryable = False


class UpgradeRefusedError(BridgeError):
    """The WebSocket upgrade was refused with 401: the token is stale, try a fresh one."""

    code = "auth_failed"
    retryable = True


class BridgeTimeoutError(BridgeError):
    """A bounded wait ran out."""

    code = "timeout"


class TokenTimeoutError(BridgeTimeoutError):
    """The token endpoint did not answer in time: as transient as its being down."""

    retryable = True


class ConnectionLostError(BridgeError):
    """The Truebar connection ended before FINISHED."""

    code = "service_unavailable"
    retryable = True


class ProtocolError(BridgeError):
    """Truebar sent something the protocol does not allow."""

    code = "protocol_error"


class ServiceError(BridgeError):
    """Truebar reported an ERROR in the session."""

    code = "service_error"
    retryable = True


class BusyError(BridgeError):
    """The server already serves its maximum of concurrent utterances."""

    code = "busy"


class BadAudioError(BridgeError):
    """The client's audio format or data cannot be used."""

    code = "bad_audio"


class ClientProtocolError(BridgeError):
    """The Wyoming client broke the protocol (oversized or malformed event, wrong order)."""

    code = "bad_request"


class LanguageError(BridgeError):
    """The requested language has no Truebar tag (strict language mode)."""

    code = "unsupported_language"


class UtteranceTooLongError(BridgeError):
    """The utterance went past max_utterance_seconds."""

    code = "too_long"


class ForbiddenError(BridgeError):
    """The client's address is not in allowed_networks."""

    code = "forbidden"


class ClientTimeoutError(BridgeError):
    """The client sent nothing for idle_timeout seconds."""

    code = "timeout"
