# registrar: a slim image that serves the realms mounted at /srv/registrar/realms as a non-root
# user. It ships no realm (the examples in realms/ have their secrets printed in the README) and
# needs REGISTRAR_PUBLIC_URL: on 0.0.0.0 without a public URL the server refuses to start.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/registrar
RUN useradd --system --uid 10001 --home-dir /srv/registrar registrar

COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir . \
    && mkdir -p data realms config \
    && chown registrar:registrar data

USER 10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health')"]
ENTRYPOINT ["registrar"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
