"""Settings objects read from one parameters section, with unknown keys refused by name."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar, TypeVar

__all__ = ["FromParams"]

T = TypeVar("T", bound="FromParams")


class FromParams:
    """Mixin for a frozen dataclass of settings: ``from_params(section_dict)``."""

    section: ClassVar[str] = ""

    @classmethod
    def from_params(cls: type[T], params: dict[str, Any] | None) -> T:
        """The settings from ``params`` (None: the defaults); a key that is not a setting is an error."""
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        unknown = sorted(set(params or {}) - set(names))
        if unknown:
            raise ValueError(f"{cls.section} has no setting {', '.join(map(repr, unknown))}; "
                             f"the settings are {', '.join(names)}")
        return cls(**(params or {}))
