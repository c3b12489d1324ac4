"""Names and references: `name`, `name@alias`, `name@<version>`.

Names, aliases and versions are validated before they touch a path, so no
reference can escape the store's root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from model_store.errors import InvalidName

NAME_PATTERN = r"[a-z0-9][a-z0-9._-]{0,63}"
# The same rule as a JSON-schema regex without look-arounds (no "..": a dot is always
# followed by another character or ends the name); pair it with max_length=64.
NAME_REGEX = r"^[a-z0-9](\.?[a-z0-9_-])*\.?$"
SELECTOR_REGEX = r"^([1-9][0-9]{0,8}|[a-z0-9](\.?[a-z0-9_-])*\.?)$"
_NAME = re.compile(NAME_PATTERN)
DEFAULT_ALIAS = "production"
LATEST = "latest"


def validate_name(name: str, what: str = "model name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise InvalidName(f"invalid {what} {name!r}: must match {NAME_PATTERN} without '..'")
    return name


@dataclass(frozen=True)
class ModelRef:
    """A name plus a selector: an alias, `latest`, or a version number."""

    name: str
    selector: str = DEFAULT_ALIAS

    @property
    def version(self) -> int | None:
        return int(self.selector) if self.selector.isdigit() else None

    def __str__(self) -> str:
        return f"{self.name}@{self.selector}"


def parse_ref(text: str, selector: str | int | None = None) -> ModelRef:
    """`mnist-vae`, `mnist-vae@staging`, `mnist-vae@3`; `selector` overrides the text's."""
    name, _, inline = text.partition("@")
    validate_name(name)
    chosen = str(selector) if selector is not None else (inline or DEFAULT_ALIAS)
    if chosen.isdigit():
        if int(chosen) < 1:
            raise InvalidName(f"invalid version {chosen!r}: versions start at 1")
        chosen = str(int(chosen))
    else:
        validate_name(chosen, "alias")
    return ModelRef(name, chosen)
