"""Small pieces shared by the building blocks' configuration readers."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from onboardkit.errors import ConfigurationError

__all__ = ["whole_number"]


def whole_number(low: int, high: int) -> Callable[[object, attrs.Attribute[int], object], None]:
    """An attrs validator: a whole number (not a bool) from ``low`` to ``high``.

    The error's ``key`` is the attribute's name; a ``from_mapping`` reader prefixes its own key.
    """

    def check(_instance: object, attribute: attrs.Attribute[int], value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigurationError(key=attribute.name, reason="expected a whole number")
        if not low <= value <= high:
            raise ConfigurationError(
                key=attribute.name, reason=f"must be between {low} and {high}, not {value}"
            )

    return check
