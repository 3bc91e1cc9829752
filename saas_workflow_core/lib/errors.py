"""Outcome exceptions a subscription handler may raise.

The dispatcher treats any exception as a failed attempt that is retried on the
subscription's schedule. These two classes make the intent explicit:

* :class:`RetryableError` - try again, optionally not before ``retry_after``
  seconds (for example a receiver's ``Retry-After`` header);
* :class:`PermanentError` - retrying cannot help; the delivery is dead at once.
"""


class HandlerError(Exception):
    """Base class of the handler outcome exceptions."""


class RetryableError(HandlerError):
    """A transient failure: the delivery is retried."""

    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(HandlerError):
    """A failure that retrying cannot fix: the delivery goes to the dead letter queue."""
