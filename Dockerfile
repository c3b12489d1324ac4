# Autoencoders: trainer and API in one CPU image.
#   docker build -t autoencoders .        (docker compose up does it for you)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# PyTorch's CPU wheels: the image carries no CUDA (about 1 GB instead of 6). Its own layer,
# so code changes do not reinstall it.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch torchvision

COPY pyproject.toml README.md ./
COPY autoencoders ./autoencoders
COPY model_store ./model_store
COPY trainer ./trainer
COPY service ./service
RUN pip install . && rm -rf /root/.cache

RUN useradd --create-home --uid 10001 app && mkdir -p /models && chown app:app /models
USER app

ENV AE_STORE_DIR=/models \
    AE_HOST=0.0.0.0 \
    AE_PORT=8000
VOLUME ["/models"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2).status != 200)"]
CMD ["python", "-m", "service"]
