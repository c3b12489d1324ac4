"""Configuration, read from the environment (prefix AE_) by the entry point only."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_store.images import MAX_IMAGE_PIXELS
from model_store.location import DEFAULT_STORE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AE_", extra="ignore")

    store_dir: str = Field(
        DEFAULT_STORE, description="model store: a directory, file:///path or s3://bucket/prefix"
    )
    default_model: str = Field(
        "mnist-vae", description="serves /encode /decode /reconstruct /sample"
    )
    cvae_model: str = Field("mnist-cvae", description="serves /cvae-sample")
    faces_model: str = Field("faces-ae-linear", description="serves /edit-attribute")
    default_version: str = Field(
        "production", description="alias or number when a request names none"
    )
    preload: list[str] = Field(default_factory=list, description="extra refs to load at start")
    max_body_bytes: int = Field(8 * 1024 * 1024, description="larger request bodies get 413")
    max_image_pixels: int = Field(
        MAX_IMAGE_PIXELS, description="larger images get 413, before decoding"
    )
    max_loaded_models: int = Field(8, description="loaded versions kept in memory (LRU)")
    max_waiting_inference: int = Field(
        64, description="requests waiting for a forward pass, per worker; more get 503"
    )
    max_requests: int = Field(
        128,
        ge=1,
        description="requests in flight per worker (body, validation, queue, "
        "forward pass); more get 503 with Retry-After at once",
    )
    request_timeout_s: float | None = Field(
        30.0, gt=0, description="a request not answered by then gets 504 (none: no deadline)"
    )
    max_batch: int = Field(64, ge=1, description="images or codes in one forward pass")
    max_batch_wait_ms: float = Field(
        2.0, ge=0, description="when busy, how long a batch may wait to fill (idle: never)"
    )
    batch_invariant: bool = Field(
        True,
        description="pad forward passes so that an answer never depends on the requests "
        "batched with it (bit for bit); false: faster lone requests, last-bit differences",
    )
    inline_when_idle: bool = Field(
        True,
        description="a lone request on an idle worker whose pass is known to take under 2 ms "
        "runs on the event loop's thread, without the hand-off to the inference thread",
    )
    graphs: Literal["eager", "trace"] = Field(
        "eager",
        description="how operations run: eager PyTorch, or TorchScript graphs traced at load "
        "(the forward pass takes the GIL once; bench/graph_machinery.py)",
    )
    workers: int | None = Field(
        None, ge=1, description="worker processes (default: one per core, at most 8)"
    )
    fork_workers: bool = Field(
        True,
        description="workers forked from the main process once it has imported the app, "
        "sharing its memory (false: spawned fresh, each importing torch on its own)",
    )
    balance_connections: bool = Field(
        True,
        description="with several workers, the one with the fewest open connections accepts "
        "the next (false: whichever the kernel wakes first)",
    )
    api_key: SecretStr | None = Field(None, description="when set, required as X-API-Key")
    cors_origins: list[str] = Field(default_factory=list, description="origins granted CORS")
    alias_poll_s: float = Field(
        0.5, gt=0, description="how often served aliases are checked (a promote reaches a "
        "replica within this and a load)"
    )
    drain_s: float = Field(10.0, description="on SIGTERM, time for requests in flight")
    torch_threads: int | None = Field(
        None, ge=1, description="torch threads per worker (default: cores / workers)"
    )
    max_header_bytes: int = Field(
        16 * 1024,
        ge=1024,
        description="a larger request line and headers get 431, and the connection is closed",
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="a connection that sends no whole request head by then is closed"
    )
    keep_alive_s: float = Field(
        5.0, gt=0, description="idle keep-alive connections are closed after"
    )
    max_connections: int = Field(
        1000, ge=1, description="open connections per worker; more are answered 503 and closed"
    )
    shared_dir: str | None = Field(
        None,
        description="directory the worker processes share (metrics, readiness, connection "
        "counts); cleared at start. Default: a fresh temporary one, removed at exit",
    )
    access_log: bool = Field(False, description="log every request (metrics count them anyway)")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"

    def with_cores(self, cores: int) -> Settings:
        """Workers and torch threads filled in for a machine with `cores` cores: one worker
        per core (at most 8: each holds its own copy of the models), threads so that
        workers x threads <= cores."""
        workers = self.workers or max(1, min(cores, 8))
        threads = self.torch_threads or max(1, cores // workers)
        return self.model_copy(update={"workers": workers, "torch_threads": threads})

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_no_key(cls, value: object) -> object:
        """`AE_API_KEY=` (as compose passes an unset variable) means auth is off."""
        return None if value == "" else value
