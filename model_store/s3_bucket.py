"""One S3 bucket as the store needs it: the client's calls with its errors turned into the
store's (`StoreUnavailable` for anything but "missing" and "a condition did not hold"),
objects read with their ETag, conditional writes, listings followed page by page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from model_store.errors import CorruptArtifact, StoreError

_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class StoreUnavailable(StoreError):
    """The bucket cannot be reached or refuses us (network, credentials, no such bucket)."""


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class Bucket:
    def __init__(self, client: Any, bucket: str, location: str) -> None:
        self.client, self.bucket, self.location = client, bucket, location

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def call(self, op: str, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, op)(Bucket=self.bucket, **kw)
        except ClientError as exc:
            code = _code(exc)
            if code in _MISSING_CODES or code in _CONFLICT_CODES:
                raise
            raise StoreUnavailable(f"{self.location}: {op} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"{self.location}: {op} failed: {exc}") from exc

    def get(self, key: str, limit: int | None = None) -> tuple[bytes, str] | None:
        """An object's bytes and ETag, or None if it does not exist."""
        from botocore.exceptions import ClientError

        try:
            obj = self.call("get_object", Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                return None
            raise StoreUnavailable(f"{self.location}: get_object failed: {exc}") from exc
        body = obj["Body"]
        if limit is not None and obj.get("ContentLength", 0) > limit:
            body.close()
            raise CorruptArtifact(f"larger than {limit} bytes", self.url(key))
        with body:
            return body.read(), obj["ETag"]

    def put(self, key: str, data: bytes, **conditions: str) -> bool:
        """Write an object; False when a condition (IfNoneMatch / IfMatch) did not hold."""
        from botocore.exceptions import ClientError

        try:
            self.call("put_object", Key=key, Body=data, **conditions)
        except ClientError as exc:
            if conditions and _code(exc) in _CONFLICT_CODES:
                return False
            raise StoreUnavailable(f"{self.location}: put_object failed: {exc}") from exc
        return True

    def keys(self, prefix: str) -> Iterator[dict[str, Any]]:
        token: dict[str, str] = {}
        while True:
            page = self.call("list_objects_v2", Prefix=prefix, **token)
            yield from page.get("Contents", [])
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def subfolders(self, prefix: str) -> list[str]:
        out, token = [], {}
        while True:
            page = self.call("list_objects_v2", Prefix=prefix, Delimiter="/", **token)
            out += [p["Prefix"][len(prefix) : -1] for p in page.get("CommonPrefixes", [])]
            if not page.get("IsTruncated"):
                return out
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def delete_keys(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            chunk = [{"Key": k} for k in keys[i : i + 1000]]
            self.call("delete_objects", Delete={"Objects": chunk, "Quiet": True})

    def exists(self, key: str) -> bool:
        """Whether an object exists (a HEAD: its size does not matter)."""
        from botocore.exceptions import ClientError

        try:
            self.call("head_object", Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                return False
            raise StoreUnavailable(f"{self.location}: head_object failed: {exc}") from exc
        return True
