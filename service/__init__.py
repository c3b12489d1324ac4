"""The HTTP service: FastAPI app, schemas, image codec, model registry, settings."""
