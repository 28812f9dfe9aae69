#!/usr/bin/env bash
# Installs everything nightshift needs on a fresh clone, and nothing twice:
#   npm packages (the locked versions), the compiled JavaScript in dist/, Debian packages
#   for the local sandbox (bubblewrap, socat, ripgrep, git, e2fsprogs for disk quotas), and
#   the Temporal CLI, built from its Go module into a per-machine cache.
# With --cluster also what `npm run cluster` and the cluster tests need: PostgreSQL 15 (the
#   Debian package) and the Temporal server and its sql tool, built into the same cache.
# With --docker also what the docker provider's tests need: the Docker engine (Debian's
#   docker.io) and a small Debian root filesystem for its sandbox image, made with
#   debootstrap into the same cache (no image registry is needed).
# Usage: scripts/bootstrap.sh [--quiet] [--cluster] [--docker]
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=0
cluster=0
docker=0
for arg in "$@"; do
  case "$arg" in
    --quiet) quiet=1 ;;
    --cluster) cluster=1 ;;
    --docker) docker=1 ;;
    *) echo "bootstrap: unknown option $arg (use --quiet, --cluster, --docker)" >&2; exit 2 ;;
  esac
done
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

# --- the compiled JavaScript the bin runs (dist/) ------------------------------------------
# `npm install` builds it once (the prepare script); this catches sources changed since.
# tsc's build mode compares them with dist/.tsbuildinfo, so an unchanged tree costs about a second.
node_modules/.bin/tsc -b tsconfig.build.json || die "compiling TypeScript into dist/ failed; see the errors above"

# --- Debian packages for the local sandbox (and PostgreSQL for the cluster) -------------
missing=()
for pair in bwrap:bubblewrap socat:socat rg:ripgrep git:git mkfs.ext4:e2fsprogs; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
# client/cluster/postgres.ts runs the server binaries from here, never the system service.
[ "$cluster" = 1 ] && [ ! -x /usr/lib/postgresql/15/bin/postgres ] && missing+=(postgresql-15)
if [ "$docker" = 1 ]; then
  PATH="$PATH:/usr/sbin:/sbin" command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  PATH="$PATH:/usr/sbin:/sbin" command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them; install them by hand"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Builds are kept outside the repo so every clone on this machine shares them.
cache_base="${NIGHTSHIFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nightshift}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

require_go() {
  command -v go >/dev/null 2>&1 || die "Go >= 1.25 is needed to build $1; install Go and run this again"
  local gover major rest minor
  gover=$(go env GOVERSION | sed 's/^go//')
  major=${gover%%.*}; rest=${gover#*.}; minor=${rest%%.*}
  if [ "$major" -lt 1 ] || { [ "$major" = 1 ] && [ "$minor" -lt 25 ]; }; then
    die "Go $gover is too old to build $1; Go >= 1.25 is needed"
  fi
}

# Runs `go install "$@"` into $tmp in the background, saying it is still alive every 15 s.
go_build() {
  local start pid
  start=$(date +%s)
  GOBIN="$tmp" go install "$@" >"$tmp/build.log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 15
    kill -0 "$pid" 2>/dev/null && say "  still building… $(( $(date +%s) - start ))s"
  done
  wait "$pid"
}

# --- Temporal CLI (dev server with embedded Web UI) -------------------------------------
install_cli() {
  local cache="$cache_base/temporal-cli"
  if [ -x "$cache/temporal" ]; then
    say "Temporal CLI $(cat "$cache/VERSION" 2>/dev/null) found in $cache"
    return
  fi
  require_go "the Temporal CLI (go install github.com/temporalio/cli/cmd/temporal)"
  mkdir -p "$cache"
  # v1.5.1 is the newest tag whose go.mod has no replace directive, so `go install` works;
  # the older ones are fallbacks.
  local version start
  for version in 1.5.1 1.4.1 1.3.0; do
    say "building Temporal CLI v$version with go install (first time on this machine; takes a few minutes)"
    start=$(date +%s)
    if go_build -ldflags "-X github.com/temporalio/cli/temporalcli.Version=$version" \
      "github.com/temporalio/cli/cmd/temporal@v$version" && [ -x "$tmp/temporal" ]; then
      mv "$tmp/temporal" "$cache/temporal"
      echo "$version" > "$cache/VERSION"
      say "Temporal CLI v$version installed in $cache ($(( $(date +%s) - start ))s)"
      return
    fi
    say "building v$version failed:"
    tail -5 "$tmp/build.log" >&2
  done
  die "could not build the Temporal CLI (tried v1.5.1, v1.4.1, v1.3.0); see the errors above"
}

# --- Temporal server and sql tool (npm run cluster) -------------------------------------
# The version docker-compose.yml names. Its schemas ship inside the module; they are copied
# next to the binaries so a cleaned Go module cache does not take them away.
server_version=1.29.1
install_server() {
  local cache="$cache_base/temporal-server"
  if [ -x "$cache/temporal-server" ] && [ -x "$cache/temporal-sql-tool" ] && [ -d "$cache/schema/postgresql" ] \
    && [ "$(cat "$cache/VERSION" 2>/dev/null)" = "$server_version" ]; then
    say "Temporal server $server_version found in $cache"
    return
  fi
  require_go "the Temporal server (go install go.temporal.io/server/cmd/server)"
  say "building Temporal server v$server_version and its sql tool with go install (first time on this machine; about 5 minutes)"
  local start
  start=$(date +%s)
  if ! go_build "go.temporal.io/server/cmd/server@v$server_version" "go.temporal.io/server/cmd/tools/sql@v$server_version"; then
    tail -5 "$tmp/build.log" >&2
    die "could not build the Temporal server v$server_version; see the errors above"
  fi
  local module
  module=$(go env GOMODCACHE)/go.temporal.io/server@v$server_version
  [ -d "$module/schema/postgresql" ] || die "the server module has no schema/postgresql at $module"
  mkdir -p "$cache"
  rm -rf "$cache/schema"
  cp -r "$module/schema" "$cache/schema"
  chmod -R u+w "$cache/schema"
  mv "$tmp/server" "$cache/temporal-server"
  mv "$tmp/sql" "$cache/temporal-sql-tool"
  echo "$server_version" > "$cache/VERSION"
  say "Temporal server v$server_version installed in $cache ($(( $(date +%s) - start ))s)"
}

# --- Root filesystem of the docker provider's test image -------------------------------
# Debian's minimal base with what the provider runs inside a container (coreutils' timeout
# and base64, find, socat for the egress bridge) and git; the tests `docker import` it into
# an engine of their own. Bump the recipe when the package list changes.
rootfs_recipe="bookworm-minbase-git-socat-1"
install_rootfs() {
  local cache="$cache_base/docker-rootfs"
  if [ -f "$cache/rootfs.tar" ] && [ "$(cat "$cache/VERSION" 2>/dev/null)" = "$rootfs_recipe" ]; then
    say "docker sandbox root filesystem $rootfs_recipe found in $cache"
    return
  fi
  [ "$(id -u)" = 0 ] || die "building the docker sandbox root filesystem needs root (debootstrap)"
  say "building the docker sandbox root filesystem with debootstrap (first time on this machine; one to three minutes)"
  local start root
  start=$(date +%s)
  root="$tmp/rootfs"
  if ! PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase --include=git,ca-certificates,socat \
    bookworm "$root" >"$tmp/debootstrap.log" 2>&1; then
    tail -5 "$tmp/debootstrap.log" >&2
    die "debootstrap failed; see the lines above"
  fi
  # Nothing the sandbox needs: package caches, documentation, translations.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  mkdir -p "$cache"
  tar -C "$root" --numeric-owner -cf "$cache/rootfs.tar.partial" .
  mv "$cache/rootfs.tar.partial" "$cache/rootfs.tar"
  echo "$rootfs_recipe" > "$cache/VERSION"
  say "docker sandbox root filesystem installed in $cache ($(( $(date +%s) - start ))s)"
}

install_cli
[ "$cluster" = 1 ] && install_server
[ "$docker" = 1 ] && install_rootfs
exit 0
