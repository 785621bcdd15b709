#!/usr/bin/env bash
# Fresh Debian machine to a running phronosd: a Docker engine (Debian's docker.io, started in the
# background when none answers), a venv with phronosd, every runner image; then the daemon on
# 127.0.0.1:3001 (log in phronosd.log). `--no-start` stops before starting the daemon;
# `--with-runsc` also installs gVisor's runsc and registers it with the engine (setting `runtime`).
set -euo pipefail
cd "$(dirname "$0")"

start=1
runsc=0
for arg in "$@"; do
  case "$arg" in
    --no-start) start=0 ;;
    --with-runsc) runsc=1 ;;
    *) echo "install: unknown option $arg (known: --no-start, --with-runsc)" >&2; exit 2 ;;
  esac
done

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${apt_updated:-}" ]; then apt-get update -qq; apt_updated=1; fi
  apt-get install -y -qq "$@" >/dev/null
}

ensure_docker() {
  docker info >/dev/null 2>&1 && return 0
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    nohup dockerd >/var/log/phronosd-dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "install: dockerd did not become ready; see /var/log/phronosd-dockerd.log" >&2
  return 1
}

# gVisor's runsc as the engine's runtime `runsc`, merged into daemon.json (what is there is kept)
# and loaded by SIGHUP: dockerd reloads its runtimes live, running containers are not touched.
# --network=none: runsc refuses the root network namespace otherwise (the sandboxes have no network);
# --platform=ptrace: works on any host, KVM or not.
register_runsc() {
  command -v runsc >/dev/null 2>&1 || apt_install runsc
  docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' && return 0
  mkdir -p /etc/docker
  python3 - "$(command -v runsc)" <<'PY'
import json, os, sys
path = "/etc/docker/daemon.json"
config = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
config.setdefault("runtimes", {})["runsc"] = {"path": sys.argv[1], "runtimeArgs": ["--network=none", "--platform=ptrace"]}
with open(path + ".tmp", "w") as out:
    json.dump(config, out, indent=2)
os.replace(path + ".tmp", path)
PY
  kill -HUP "$(pidof dockerd)"
  for _ in $(seq 1 20); do
    docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' && return 0
    sleep 0.5
  done
  echo "install: dockerd did not load the runsc runtime from /etc/docker/daemon.json" >&2
  return 1
}

ensure_docker
if [ "$runsc" = 1 ]; then register_runsc; fi
# The base image is made with debootstrap where no registry can be reached.
command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
# The service tests run systemd-analyze and systemd-socket-activate (package systemd, which does
# not need to be PID 1), Debian's nginx (policy-rc.d or not, the tests start their own instance)
# and docker-compose (config validation only); Debian's redis-server for the cluster tests (whether or
# not the package starts its own service, each test starts its own server on a free port).
for tool in systemd-analyze:systemd systemd-socket-activate:systemd nginx:nginx docker-compose:docker-compose \
  redis-server:redis-server; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || apt_install "${tool#*:}"
done
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "install: python3 >= 3.11 is needed" >&2; exit 1; }
python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
.venv/bin/phronosd images build

if [ "$start" = 1 ]; then
  nohup .venv/bin/phronosd serve >phronosd.log 2>&1 &
  for _ in $(seq 1 30); do
    if curl -fsS http://127.0.0.1:3001/health >/dev/null 2>&1; then
      echo "phronosd is listening on http://127.0.0.1:3001 (log: phronosd.log)"
      exit 0
    fi
    sleep 1
  done
  echo "install: phronosd did not answer on 127.0.0.1:3001; see phronosd.log" >&2
  exit 1
fi
