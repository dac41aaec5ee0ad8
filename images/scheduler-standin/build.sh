#!/bin/sh
# Build the scheduler stand-in: ./build.sh BASE_IMAGE [TAG]
# e.g. ./build.sh engarde.local/debian:bookworm-20261207
# Only Debian packages (over apt's http sources): no CA certificates are needed in the context.
set -eu
base=${1:?usage: build.sh BASE_IMAGE [TAG]}
tag=${2:-engarde.local/easyappointments-standin:1.5.0-1}
here=$(cd "$(dirname "$0")" && pwd)
docker build --build-arg BASE_IMAGE="$base" -t "$tag" "$here"
