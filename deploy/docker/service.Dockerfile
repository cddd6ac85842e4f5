# One image recipe for every service, built from the repository root:
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=intake .
# The services differ only in their package, so a build argument replaces four copies of this file.
FROM python:3.11-slim
ARG SERVICE
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy PYTHONUNBUFFERED=1
RUN pip install --no-cache-dir uv
WORKDIR /app
# Dependencies first, in a layer of their own: it changes only when uv.lock does.
COPY pyproject.toml uv.lock ./
COPY contracts/pyproject.toml contracts/
COPY ops/pyproject.toml ops/
COPY services/runtime/pyproject.toml services/runtime/
COPY services/intake/pyproject.toml services/intake/
COPY services/placement/pyproject.toml services/placement/
COPY services/housing/pyproject.toml services/housing/
COPY services/reporting/pyproject.toml services/reporting/
RUN uv sync --frozen --no-dev --no-install-workspace --package zorgstroom-${SERVICE}
COPY contracts contracts
COPY services services
COPY ops ops
COPY data data
RUN uv sync --frozen --no-dev --package zorgstroom-${SERVICE}
RUN useradd --system --uid 10001 zorgstroom
USER zorgstroom
ENV SERVICE=${SERVICE} ZS_HTTP_HOST=0.0.0.0 ZS_HTTP_PORT=8000
EXPOSE 8000
CMD ["sh", "-c", "exec /app/.venv/bin/python -m zorgstroom_${SERVICE}"]
