# One image for the web process (gunicorn, the default) and the worker (`python manage.py qcluster`).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# git: the local-git publisher; tini: signals reach gunicorn/qcluster so shutdowns are clean.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git tini \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 app
WORKDIR /app

# Dependencies in their own layer: rebuilt only when requirements.txt changes.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=app:app . .
# collectstatic needs settings but no secrets or database; DEBUG=0 selects the hashed storage.
RUN DEBUG=0 SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown app:app /app/var

USER app
ENV DEBUG=0 PORT=8000
EXPOSE 8000
ENTRYPOINT ["tini", "--"]
CMD ["sh", "-c", "gunicorn orchestration_site.wsgi:application --bind 0.0.0.0:${PORT} --workers ${WEB_CONCURRENCY:-2} --access-logfile -"]
