"""Domain errors of the store. They carry no HTTP codes: the service maps them."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class InvalidName(StoreError, ValueError):
    """A model name, alias or reference that does not match the allowed pattern."""


class ModelNotFound(StoreError, LookupError):
    def __init__(self, name: str, available: list[str]) -> None:
        self.name, self.available = name, available
        listed = ", ".join(available) or "none"
        super().__init__(f"no model named {name!r}; available: {listed}")


class VersionNotFound(StoreError, LookupError):
    def __init__(
        self,
        name: str,
        selector: str,
        versions: list[int],
        aliases: dict[str, int],
        aliases_problem: str | None = None,
    ):
        """`aliases_problem`: why the alias file cannot be read, when it cannot (then no
        alias is known, and numbered versions and `latest` still resolve)."""
        self.name, self.selector, self.versions, self.aliases = name, selector, versions, aliases
        self.aliases_problem = aliases_problem
        listed = ", ".join(map(str, versions)) or "none"
        named = ", ".join(f"{a}->{v}" for a, v in sorted(aliases.items())) or "none"
        if aliases_problem is not None:
            named = (f"none readable ({aliases_problem}); numbered versions and 'latest' "
                     "still work")  # fmt: skip
        super().__init__(
            f"model {name!r} has no version or alias {selector!r}; versions: {listed}; "
            f"aliases: {named}"
        )


class WriteRefused(StoreError):
    """The disk under a local store refused a write (full, read-only, not ours): nothing was
    published or moved, and nothing partial is visible."""


class VersionInUse(StoreError):
    """Deleting a version that an alias still points to."""


class CorruptArtifact(StoreError):
    """A stored file that is missing, altered, unsafe or does not fit its manifest."""

    def __init__(self, message: str, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)
