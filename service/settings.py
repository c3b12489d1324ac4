"""Configuration, read from the environment (prefix AE_) by the entry point only."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AE_", extra="ignore")

    store_dir: Path = Field(Path("models"), description="model store root")
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
    max_image_pixels: int = Field(4_000_000, description="larger images get 413, before decoding")
    max_loaded_models: int = Field(8, description="loaded versions kept in memory (LRU)")
    max_concurrent_inference: int = Field(4, description="forward passes running at once")
    max_waiting_inference: int = Field(64, description="requests queued beyond that; then 503")
    api_key: SecretStr | None = Field(None, description="when set, required as X-API-Key")
    cors_origins: list[str] = Field(default_factory=list, description="origins granted CORS")
    alias_poll_s: float = Field(1.0, description="how often served aliases are checked")
    drain_s: float = Field(10.0, description="on SIGTERM, time for requests in flight")
    torch_threads: int | None = Field(None, description="intra-op threads (default: torch's)")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_no_key(cls, value: object) -> object:
        """`AE_API_KEY=` (as compose passes an unset variable) means auth is off."""
        return None if value == "" else value
