#!/bin/sh
# Build the service stand-in: ./build.sh BASE_IMAGE [TAG]
# e.g. ./build.sh engarde.local/debian:bookworm-20261207
# The build context is a temporary copy of this directory plus the host's CA certificates
# (/usr/local/share/ca-certificates/*.crt, for pip behind a TLS proxy); nothing is written here.
set -eu
base=${1:?usage: build.sh BASE_IMAGE [TAG]}
tag=${2:-engarde.local/service-standin:1}
here=$(cd "$(dirname "$0")" && pwd)
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp -R "$here/Dockerfile" "$here/requirements.txt" "$here/app" "$context/"
mkdir "$context/ca-certificates"
for cert in /usr/local/share/ca-certificates/*.crt; do
    [ -e "$cert" ] && cp "$cert" "$context/ca-certificates/"
done
find "$context/app" -name __pycache__ -prune -exec rm -rf {} +
docker build --build-arg BASE_IMAGE="$base" -t "$tag" "$context"
