# registrar: a slim image that serves the realms mounted at /srv/registrar/realms as a non-root
# user. It ships no realm (the examples in realms/ have their secrets printed in the README) and
# needs REGISTRAR_PUBLIC_URL: on 0.0.0.0 without a public URL the server refuses to start.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REGISTRAR_HOST=0.0.0.0 \
    REGISTRAR_PORT=8080

WORKDIR /srv/registrar
RUN useradd --system --uid 10001 --home-dir /srv/registrar registrar

COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir . \
    && mkdir -p data realms config \
    && chown registrar:registrar data

USER 10001
EXPOSE 8080
# the port is REGISTRAR_PORT's, here as in `serve`: `docker run -e REGISTRAR_PORT=9000 -p 9000:9000`
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('REGISTRAR_PORT', '8080'))"]
ENTRYPOINT ["registrar"]
# serve on REGISTRAR_HOST (0.0.0.0) and REGISTRAR_PORT (8080), set above
CMD ["serve"]
