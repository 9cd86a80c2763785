#!/usr/bin/env bash
# Installs what the project needs and is missing: the npm packages (with the pinned Node 24)
# and, when run as root, the Debian packages the TPM path and tests use. Not root: it prints
# the exact apt command instead. Safe to run again: it only acts on what is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# Debian packages: swtpm and its tools (development TPM with an EK certificate), tpm2-tools (agent side),
# gcc and libc6-dev (the simulated kernel's fanotify helper, demo/kernel/fanotify.c, docs/kernel.md),
# nginx (the demo's load balancer, docs/demo.md). With --test (scripts/test): chromium (the
# dashboard's and the client's browser tests) and postgresql (the verifier's PostgreSQL store tests).
debs=(swtpm swtpm-tools tpm2-tools gcc libc6-dev nginx)
if [ "${1:-}" = --test ]; then debs+=(chromium postgresql); fi
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
    echo "  run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# npm packages, including Node 24 itself (the `node` package puts it at node_modules/.bin/node).
if [ ! -x node_modules/.bin/node ] || [ ! -f node_modules/.package-lock.json ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi

# The simulated kernel's fanotify helper (development only, docs/kernel.md), compiled into the
# git-ignored demo/kernel/build/, again whenever its source is newer. Written under a temporary
# name and renamed, as demo/src/kernel/build.ts does when a test finds it missing.
helper_src=demo/kernel/fanotify.c
helper_bin=demo/kernel/build/fanotify
if [ ! -x "$helper_bin" ] || [ "$helper_src" -nt "$helper_bin" ]; then
  echo "bootstrap: gcc $helper_src" >&2
  mkdir -p demo/kernel/build
  gcc -O2 -Wall -o "$helper_bin.$$.tmp" "$helper_src"
  mv -f "$helper_bin.$$.tmp" "$helper_bin"
fi
