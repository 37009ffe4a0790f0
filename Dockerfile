# One image for every Tollgate service; the command picks the service:
#   docker run IMAGE serve gateway|auth|billing|usage
#   docker run IMAGE migrate | secrets | admin create-user ...
# deploy/docker-compose.yml runs the whole stack from this image.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install the package and its runtime dependencies into a venv ---
FROM ${PYTHON_IMAGE} AS build

# pip precompiles the installed modules here; the runtime stage never writes
# bytecode (its venv is read-only to the service user).
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/tollgate
ENV PATH=/opt/tollgate/bin:$PATH

WORKDIR /src

# Runtime dependencies first, read from pyproject.toml, so this layer is
# rebuilt only when the dependencies change, not on every code change.
# Only [project].dependencies: the dev extra is never installed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself (packages services* and shared*, with their *.sql
# migrations and *.txt data files as package data).
COPY . .
RUN pip install . \
    && tollgate --help > /dev/null \
    && python -c "from shared import migrations; assert migrations.discover(), 'no migrations packaged'"

# --- runtime: the venv only, no source tree, no build tools, not root ---
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/tollgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TOLLGATE_ENV=production \
    TOLLGATE_HOST=0.0.0.0

RUN groupadd --system --gid 10001 tollgate \
    && useradd --system --uid 10001 --gid tollgate --home-dir /home/tollgate \
        --create-home --shell /usr/sbin/nologin tollgate \
    && mkdir -p /var/lib/tollgate/spool \
    && chown -R tollgate:tollgate /var/lib/tollgate

COPY --from=build /opt/tollgate /opt/tollgate

WORKDIR /home/tollgate
USER 10001:10001

# gateway, auth, billing, usage (each also serves /healthz, /readyz, /metrics)
EXPOSE 8080 8081 8082 8083

ENTRYPOINT ["tollgate"]
CMD ["serve", "gateway"]
