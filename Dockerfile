# CDS Hooks service image: slim Python 3.11, the package in a virtualenv, a non-root user.
#
# Build:  buildah build --format docker -t cds-service .      (or: docker build -t cds-service .)
# Run:    docker run -p 8080:8080 -v cds-data:/data \
#           -e CDS_CLIENTS_FILE=/config/clients.toml -v ./clients.toml:/config/clients.toml:ro cds-service
# Without a trusted-clients file (CDS_CLIENTS_FILE or `--clients`) every hook call is refused:
# production authenticates EHRs by their signed JWTs. For a local demo only, append `--dev`
# to the command (no client auth, open CORS, any fhirServer). See docs/container.md.
#
# BASE_IMAGE: any Debian-family image with python3 >= 3.11 and the venv module. The default is
# the official slim image; scripts/container-check.sh assembles an equivalent one from Debian
# packages (debootstrap) where no container registry is reachable.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim
FROM ${BASE_IMAGE}

# Only for builds behind a TLS-intercepting proxy: a CA bundle path mounted into the build
# (buildah build -v /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro
#  --build-arg BUILD_CA_BUNDLE=/run/build-ca.crt). Never copied into the image.
ARG BUILD_CA_BUNDLE=

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/cds-service \
    PATH=/opt/cds-service/bin:$PATH \
    CDS_DATABASE_URL=sqlite:////data/cds_service.db

# The service user owns only /data (SQLite audit trail and feedback); the code stays root-owned.
RUN groupadd --system --gid 10001 cds \
 && useradd --system --uid 10001 --gid cds --home-dir /data --no-create-home --shell /usr/sbin/nologin cds \
 && mkdir -p /data \
 && chown cds:cds /data \
 && python3 -m venv "$VIRTUAL_ENV"

WORKDIR /build
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
RUN if [ -n "$BUILD_CA_BUNDLE" ]; then export PIP_CERT="$BUILD_CA_BUNDLE"; fi \
 && pip install . \
 && cd / && rm -rf /build \
 && cds-service --help > /dev/null

USER cds:cds
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# Liveness through the service's own /health; python is in the image, curl is not needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4).status == 200 else 1)"]

CMD ["cds-service", "serve", "--host", "0.0.0.0", "--port", "8080"]
