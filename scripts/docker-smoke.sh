#!/bin/sh
# Builds the Dockerfile's image and checks it end to end: a random-weight model made by the
# image itself, the server answering /health and a completion on a published loopback port,
# and `docker stop` (SIGTERM) ending it with exit code 0. Needs a running Docker daemon.
#   sh scripts/docker-smoke.sh [IMAGE_TAG]
# QWEN2_SMOKE_NETWORK=host builds and runs on the host's network instead of docker's bridge
# (the server then binds 127.0.0.1:18080 itself), for machines whose egress or policy allows
# no bridge network.
set -eu
tag="${1:-qwen2-ts:smoke}"
cd "$(dirname "$0")/.."
docker info >/dev/null 2>&1 || { echo "docker-smoke: no Docker daemon here; nothing checked" >&2; exit 2; }
if [ "${QWEN2_SMOKE_NETWORK:-}" = host ]; then
  build_net="--network host"
  run_net="--network host"
  serve_args="--model /models/model --host 127.0.0.1 --port 18080"
else
  build_net=""
  run_net="-p 127.0.0.1:18080:8080"
  serve_args=""
fi
# shellcheck disable=SC2086
docker build $build_net -t "$tag" .
models="$(mktemp -d)"
chmod 777 "$models"
name="qwen2-smoke-$$"
cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$models"; }
trap cleanup EXIT
docker run --rm --network none -v "$models:/models" --entrypoint node "$tag" bin/qwen2.js create-random --preset tiny --out /models/model --seed 1
# shellcheck disable=SC2086
docker run -d --name "$name" $run_net -v "$models:/models:ro" "$tag" $serve_args >/dev/null
for i in $(seq 1 120); do
  if curl -fsS http://127.0.0.1:18080/health >/dev/null 2>&1; then break; fi
  sleep 1
done
curl -fsS http://127.0.0.1:18080/health
status=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18080/v1/completions \
  -H 'content-type: application/json' -d '{"prompt": "Hello", "max_tokens": 4}')
[ "$status" = 200 ] || { echo "docker-smoke: completion answered $status" >&2; docker logs "$name"; exit 1; }
docker stop -t 40 "$name" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || { echo "docker-smoke: exit code $code after SIGTERM" >&2; docker logs "$name"; exit 1; }
echo "docker-smoke: ok (health, a completion, SIGTERM → exit 0)"
