# The image of every service: `crm serve <name>` (docker-compose.yml, deploy/kubernetes).
# Built in one stage, run from another that has the installed package and nothing else:
# no compiler, no tests, no development requirements, no pip.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/crm
COPY requirements.lock ./
RUN /opt/crm/bin/pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml ./
COPY meshkit ./meshkit
COPY services ./services
COPY protos ./protos
RUN /opt/crm/bin/pip install --no-cache-dir --no-deps . \
    && /opt/crm/bin/pip uninstall --yes pip

FROM python:3.11-slim
# A fixed, unprivileged uid: compose (`user:`), Kubernetes (runAsUser) and the owner of
# mounted secrets all name the same number.
RUN groupadd --system --gid 10001 crm \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin crm
COPY --from=build /opt/crm /opt/crm
# Read-only root filesystem: no .pyc written at run time (they are compiled at install),
# temporary files under /tmp only (a tmpfs), and CRM_HOME never written: keys and secrets
# are mounted files named by the *_FILE settings.
ENV PATH=/opt/crm/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CRM_HOME=/nonexistent/crm
USER 10001:10001
# No HEALTHCHECK here: compose and Kubernetes probe each service in their own way.
CMD ["crm", "--help"]
