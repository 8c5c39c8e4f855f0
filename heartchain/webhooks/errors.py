"""Webhook errors: refused endpoints and filters."""

from __future__ import annotations

from heartchain.errors import NotFound, ValidationError


class EndpointRefused(ValidationError):
    """The URL is not one deliveries may go to (not HTTPS, credentials in it, too long)."""


class BadFilter(ValidationError):
    """An unknown entry kind or a malformed campaign in an endpoint's filters."""


class UnknownEndpoint(NotFound):
    """No endpoint with that id belongs to the caller."""
