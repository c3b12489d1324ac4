"""python -m service: serve the API with uvicorn, configured from AE_* environment variables."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from service.app import create_app
from service.settings import Settings


def main() -> None:
    settings = Settings()
    p = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    p.add_argument("--host", default=settings.host)
    p.add_argument("--port", type=int, default=settings.port)
    p.add_argument("--store", default=str(settings.store_dir), help="model store root")
    args = p.parse_args()
    settings = settings.model_copy(
        update={"host": args.host, "port": args.port, "store_dir": args.store}
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=max(1, round(settings.drain_s)),
    )


if __name__ == "__main__":
    main()
