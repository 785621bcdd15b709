#!/usr/bin/env bash
# Fresh Debian machine to a running phronosd: a Docker engine (Debian's docker.io, started in the
# background when none answers), a venv with phronosd, every runner image; then the daemon on
# 127.0.0.1:3001 (log in phronosd.log). `--no-start` stops before starting the daemon.
set -euo pipefail
cd "$(dirname "$0")"

start=1
[ "${1:-}" = "--no-start" ] && start=0

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

ensure_docker
# The base image is made with debootstrap where no registry can be reached.
command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
# The service tests run systemd-analyze and systemd-socket-activate (package systemd, which does
# not need to be PID 1), Debian's nginx (policy-rc.d or not, the tests start their own instance)
# and docker-compose (config validation only).
for tool in systemd-analyze:systemd systemd-socket-activate:systemd nginx:nginx docker-compose:docker-compose; do
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
