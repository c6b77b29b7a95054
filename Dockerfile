# One image for every service of docker-compose.yml (migrate, web, worker, beat); the command differs.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 MODERATION_VAR_DIR=/app/var
WORKDIR /app
COPY pyproject.toml README.md ./
COPY moderation moderation
COPY worker worker
COPY training training
COPY benchmarks benchmarks
COPY models models
COPY manage.py ./
# var/ must be writable by the unprivileged user: settings create var/static, beat keeps its schedule there.
RUN pip install . && useradd --create-home app && mkdir -p /app/var && chown app:app /app/var
USER app
EXPOSE 8000
CMD ["gunicorn", "moderation.config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4"]
