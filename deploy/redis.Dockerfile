# Debian's redis-server for docker-compose.cluster.yml (no registry but Debian's mirror is needed).
FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
USER redis
EXPOSE 6379
ENTRYPOINT ["redis-server"]
