# One image for every service of docker-compose.yml (web, worker, migrate); the command differs.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY moderation moderation
COPY worker worker
COPY training training
COPY benchmarks benchmarks
COPY models models
COPY manage.py ./
RUN pip install . && useradd --create-home app
USER app
EXPOSE 8000
CMD ["gunicorn", "moderation.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4"]
