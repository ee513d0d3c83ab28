# The reference backend (refservice) as an image, buildable without any registry.
#
# BASE_IMAGE is any image with CPython 3.11+ and its venv module: the public python:3.11-slim by
# default, or the local Debian base the harness makes with mmdebstrap when nothing can be pulled
# (docs/docker.md). The Python dependencies come only from the wheels the harness downloads
# beforehand into .cache/docker/wheels (pip install --no-index): the build reaches no network.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# Few instructions: the classic builder runs a container for each, even for metadata.
ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    PATH=/opt/venv/bin:$PATH

# Its own layer: rebuilt only when the base changes.
RUN python3 -m venv /opt/venv

COPY .cache/docker/wheels/ /tmp/wheels/
RUN pip install --no-index --no-cache-dir --find-links /tmp/wheels \
        --requirement /tmp/wheels/requirements.txt \
    && rm -rf /tmp/wheels

COPY contract/ /app/contract/
COPY refservice/ /app/refservice/

# Any unprivileged uid will do; the service writes nothing to disk. The port (8000 unless
# --port says otherwise) is published by compose.yaml.
USER 10001:10001
CMD ["python", "-m", "refservice", "--host", "0.0.0.0", "--port", "8000"]
