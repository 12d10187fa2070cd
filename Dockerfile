# Production image: slim Python, pinned production requirements only (no embedded servers,
# no test tools), a non-root user, gunicorn with the gevent-websocket worker.
# The start-up path is run.py's, the same `make run` exercises: validate the configuration,
# apply pending migrations, then serve. The student page is built in its own stage (Node is not
# in the final image) and served by the app at /.
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/index.html web/vite.config.js web/svelte.config.js ./
COPY web/src ./src
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_ENV=production \
    HOST=0.0.0.0 \
    PORT=5000 \
    DATA_DIR=/tmp/pizarra

WORKDIR /srv/pizarra

RUN groupadd --system --gid 10001 pizarra \
    && useradd --system --uid 10001 --gid pizarra --no-create-home --shell /usr/sbin/nologin pizarra

COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY app ./app
COPY migrations ./migrations
COPY seed ./seed
COPY run.py gunicorn.conf.py ./
COPY --from=web /web/dist ./web/dist

USER pizarra
EXPOSE 5000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '5000'), timeout=2)"]

# One gevent worker per container: Socket.IO needs sticky sessions, so scale with replicas
# behind a load balancer that pins clients, sharing rooms through Redis (message_queue).
CMD ["sh", "-c", "python run.py --prepare-only && exec gunicorn --config gunicorn.conf.py --worker-class geventwebsocket.gunicorn.workers.GeventWebSocketWorker --workers 1 --bind \"${HOST}:${PORT}\" --graceful-timeout 25 --timeout 60 --no-control-socket --access-logfile - 'app:create_app()'"]
