"""The fleet's one error type."""


class FleetError(ValueError):
    """A fleet specification that cannot be deployed; the message names the culprit."""
