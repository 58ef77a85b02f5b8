# syntax=docker/dockerfile:1
# The igbridge sidecar. Built by docker-compose.yml; on its own:
#   docker build -t igbridge-sidecar . && docker run -e IGBRIDGE_SECRET=… -p 127.0.0.1:8765:8765 igbridge-sidecar

# Stage 1: wheels for the package and every dependency (no dev extra).
FROM python:3.11-slim AS wheels
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sidecar ./sidecar
RUN pip wheel --wheel-dir /wheels .

# Stage 2: the runtime, installed from those wheels only.
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IGBRIDGE_DATA_DIR=/data \
    IGBRIDGE_PORT=8765
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels igbridge

# A user of its own, in group www-data (gid 33 here and in the WordPress image):
# the application password the compose setup writes is readable by that group.
# /data and /uploads (the scale profile's shared uploads volume) are created owned by
# it so a new named volume mounted there inherits that.
RUN useradd --system --uid 10001 --gid www-data --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin igbridge \
    && install -d -o igbridge -g www-data -m 0750 /data \
    && install -d -o igbridge -g www-data -m 0700 /uploads
USER 10001:33
WORKDIR /data

EXPOSE 8765
# No curl in this image: python asks /healthz, which needs no secret.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('IGBRIDGE_PORT', '8765'), timeout=3)"]

ENTRYPOINT ["igbridge"]
# 0.0.0.0 so the published port reaches it; the sidecar then insists on IGBRIDGE_SECRET.
CMD ["serve", "--host", "0.0.0.0"]
