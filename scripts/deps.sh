#!/usr/bin/env bash
# Installs what Parley's build, `make run` and `make test` need and is not
# already on this Debian machine: C libraries for cgo (libvips), PostgreSQL
# for the storage tests, Node.js, the npm packages the interop tests drive,
# Debian's Chromium for the browser test (interop/voice_browser_test.go;
# never a browser build a tool downloads itself), and Debian's etcd for the
# voice fleet's registry (internal/testetcd starts one per test; etcdctl
# helps an operator look inside), and Debian's ffmpeg and espeak-ng, which
# make the video and speech test media at test time.
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
need=()
command -v pkg-config >/dev/null || need+=(pkg-config)
pkg-config --exists vips 2>/dev/null || need+=(libvips-dev)
command -v gcc >/dev/null || need+=(gcc)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v node >/dev/null || need+=(nodejs npm)
command -v chromium >/dev/null || need+=(chromium)
command -v etcd >/dev/null || [ -x /usr/bin/etcd ] || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
# The browser test blocks one UDP flow for a moment; nft is in /usr/sbin,
# not on a non-root PATH.
command -v nft >/dev/null || [ -x /usr/sbin/nft ] || need+=(nftables)
# make web gzips the browser's DAVE module with zopfli (smaller than gzip -9).
command -v zopfli >/dev/null || need+=(zopfli)
# Video and speech test media are made at test time (issue 14): VP8/H264
# files with Debian's ffmpeg, speech with espeak-ng.
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
if ((${#need[@]})); then
  echo "deps: apt-get install ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm packages for the interop tests, pinned by package-lock.json.
if [ "${PARLEY_SKIP_NPM:-}" != 1 ]; then
  stamp=interop/node/node_modules/.parley-lock
  if ! cmp -s interop/node/package-lock.json "$stamp" 2>/dev/null; then
    echo "deps: npm ci (interop/node)" >&2
    (cd interop/node && npm ci --no-audit --no-fund --loglevel=error)
    cp interop/node/package-lock.json "$stamp"
  fi
fi
