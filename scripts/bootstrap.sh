#!/usr/bin/env bash
# Installs everything nightshift needs on a fresh clone, and nothing twice:
#   npm packages (the locked versions), Debian packages for the local sandbox (bubblewrap, socat,
#   ripgrep, git, e2fsprogs for disk quotas), and the Temporal CLI, built from its Go module
#   into a per-machine cache.
# Usage: scripts/bootstrap.sh [--quiet]
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1
say() { [ "$quiet" = 1 ] || echo "bootstrap: $*" >&2; }
die() { echo "bootstrap: error: $*" >&2; exit 1; }

# --- npm packages ---------------------------------------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  # The locked versions, without touching package-lock.json, so a fresh clone stays clean.
  # Not `npm ci`: it rejects this lock file, which lacks other platforms' optional packages
  # (@swc/core-darwin-*, …); `npm install` would add them to it, `--no-save` keeps it as is.
  npm install --no-save --no-audit --no-fund --loglevel=error
fi
# npm 11 runs no install scripts unless approved; these packages ship prebuilt binaries
# instead, so check they load rather than trusting the install.
node -e "require('@temporalio/core-bridge'); require('@swc/core'); require('esbuild')" \
  || die "a native package (@temporalio/core-bridge, @swc/core or esbuild) does not load; try 'rm -rf node_modules && npm install'"

# --- Debian packages for the local sandbox ----------------------------------------------
missing=()
for pair in bwrap:bubblewrap socat:socat rg:ripgrep git:git mkfs.ext4:e2fsprogs; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them; install them by hand"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- Temporal CLI (dev server with embedded Web UI) -------------------------------------
# Kept outside the repo so every clone on this machine shares one build.
cache="${NIGHTSHIFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nightshift}/temporal-cli"
if [ -x "$cache/temporal" ]; then
  say "Temporal CLI $(cat "$cache/VERSION" 2>/dev/null) found in $cache"
  exit 0
fi
command -v go >/dev/null 2>&1 || die "Go >= 1.25 is needed to build the Temporal CLI (go install github.com/temporalio/cli/cmd/temporal); install Go and run this again"
gover=$(go env GOVERSION | sed 's/^go//')
major=${gover%%.*}; rest=${gover#*.}; minor=${rest%%.*}
if [ "$major" -lt 1 ] || { [ "$major" = 1 ] && [ "$minor" -lt 25 ]; }; then
  die "Go $gover is too old to build the Temporal CLI; Go >= 1.25 is needed"
fi
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# v1.5.1 is the newest tag whose go.mod has no replace directive, so `go install` works;
# the older ones are fallbacks.
for version in 1.5.1 1.4.1 1.3.0; do
  say "building Temporal CLI v$version with go install (first time on this machine; takes a few minutes)"
  start=$(date +%s)
  GOBIN="$tmp" go install -ldflags "-X github.com/temporalio/cli/temporalcli.Version=$version" \
    "github.com/temporalio/cli/cmd/temporal@v$version" >"$tmp/build.log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 15
    kill -0 "$pid" 2>/dev/null && say "  still building… $(( $(date +%s) - start ))s"
  done
  if wait "$pid" && [ -x "$tmp/temporal" ]; then
    mv "$tmp/temporal" "$cache/temporal"
    echo "$version" > "$cache/VERSION"
    say "Temporal CLI v$version installed in $cache ($(( $(date +%s) - start ))s)"
    exit 0
  fi
  say "building v$version failed:"
  tail -5 "$tmp/build.log" >&2
done
die "could not build the Temporal CLI (tried v1.5.1, v1.4.1, v1.3.0); see the errors above"
