#!/usr/bin/env bash
# A private container engine for the `container` backend on a machine without Docker and without
# access to an image registry: podman's Docker-compatible API on a unix socket of its own, and a
# PostgreSQL image assembled from this machine's Debian PostgreSQL packages.
#   eval "$(scripts/container-engine.sh start)"   installs podman when missing, starts the API,
#                                                 builds the image when missing, prints the exports
#   scripts/container-engine.sh stop              stops the API service `start` started, nothing else
#   scripts/container-engine.sh image             builds the image only (nothing to do when its tag exists)
#   scripts/container-engine.sh env               prints the exports again
# Only the exports go to stdout; progress and errors go to stderr. Every wait is bounded.
# In a `set -e` script, assign first: `eval "$(... start)"` alone would not stop on a failed start.
#   exports="$(scripts/container-engine.sh start)"; eval "$exports"
# The image's tag is a hash of this script, the versions of the packages it is made from and the
# contents of every file it copies from this machine, so it is built once per machine (podman keeps
# its images in /var/lib/containers) and again only when one of them changes.
set -euo pipefail

SCRIPT="$(readlink -f "${BASH_SOURCE[0]}")"
ENGINE_DIR="${TENANTKIT_ENGINE_DIR:-$HOME/.cache/tenantkit-engine}"
SOCKET="$ENGINE_DIR/podman.sock"
PID_FILE="$ENGINE_DIR/service.pid"
SERVICE_LOG="$ENGINE_DIR/service.log"
HEALTH_PID_FILE="$ENGINE_DIR/healthchecks.pid"
HEALTH_LOG="$ENGINE_DIR/healthchecks.log"
PG_MAJOR="${TENANTKIT_IMAGE_PG_MAJOR:-15}"
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
IMAGE_REPO="localhost/tenantkit-postgres"
# The packages the image is made from; their versions are part of the image's tag.
IMAGE_PACKAGES=("postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR" libpq5 libc6 libssl3 libicu72 tzdata libc-bin dash bash coreutils mawk grep util-linux)
START_TIMEOUT_S=30
STOP_TIMEOUT_S=10

# The one config podman reads here: written by this script, never over the system's /etc/containers.
export CONTAINERS_CONF="$ENGINE_DIR/containers.conf"

say() { printf 'container-engine: %s\n' "$*" >&2; }
fail() {
  say "$*"
  exit 1
}

apt_install() {
  say "installing $* from Debian"
  # apt-get prints its reason on failure; keep it, drop the progress chatter.
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; } >"$ENGINE_DIR/apt.log" 2>&1; then
    tail -20 "$ENGINE_DIR/apt.log" >&2
    fail "could not install $* (log: $ENGINE_DIR/apt.log). Install them by hand, or use backend \"native\"."
  fi
}

ensure_tools() {
  local missing=()
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  # crun, podman's default, cannot run containers under the hybrid cgroup layout of this machine kind.
  [ -x /usr/sbin/runc ] || [ -x /usr/bin/runc ] || missing+=(runc)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || fail "${missing[*]} missing and not root: install them (apt-get install ${missing[*]}) and run again."
  apt_install "${missing[@]}"
}

prepare_dir() {
  mkdir -p "$ENGINE_DIR" || fail "cannot create $ENGINE_DIR (TENANTKIT_ENGINE_DIR)."
  chmod 700 "$ENGINE_DIR"
}

write_config() {
  local runc
  runc="$(command -v runc || echo /usr/sbin/runc)"
  # default_ulimits: the sandbox refuses setrlimit, so containers must not ask for any.
  # cgroupfs and a file event log: there is no systemd to hand cgroups or journald events to.
  # exit_command_delay: every exec (health checks, testcontainers' port checks, several a second
  # while a container starts) keeps a conmon process alive this long after it ends so a client can
  # read its exit code; the default 300 s piles up hundreds of them. Clients read it at once.
  cat >"$CONTAINERS_CONF.tmp" <<EOF
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
exit_command_delay = 10

[engine.runtimes]
runc = ["$runc"]
EOF
  mv "$CONTAINERS_CONF.tmp" "$CONTAINERS_CONF"
}

# The socket answers the Docker API's ping.
answers() {
  [ -S "$SOCKET" ] && curl -fsS --max-time 2 --unix-socket "$SOCKET" http://engine/_ping >/dev/null 2>&1
}

# Prints the pid in a pid file when it is a live process whose command line contains the given text,
# so a stale file never leads to signalling someone else's process.
live_pid() {
  local file=$1 expected=$2 pid
  [ -f "$file" ] || return 1
  pid="$(cat "$file")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$expected" || return 1
  echo "$pid"
}

service_pid() { live_pid "$PID_FILE" "system service --time=0 unix://$SOCKET"; }
# Matched by the socket, not the script path: a start from another checkout of the project finds it.
healthchecks_pid() { live_pid "$HEALTH_PID_FILE" "_healthchecks $SOCKET"; }

# Podman runs health checks from systemd timers, and there is no systemd here: a container's health
# would stay "starting" forever, and testcontainers' PostgreSqlContainer waits for "healthy". This
# loop stands in for the timers: it runs the check of every container still "starting", about four
# times a second (the interval PostgreSqlContainer asks for), until podman records it healthy or
# unhealthy. Containers past that are not checked again; nothing here needs it. It ends with the API.
run_healthchecks() {
  local filter='filters=%7B%22health%22%3A%5B%22starting%22%5D%7D' id
  while service_pid >/dev/null; do
    for id in $(curl -fsS --max-time 5 --unix-socket "$SOCKET" "http://engine/v1.41/containers/json?$filter" 2>/dev/null |
      grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
      curl -fsS --max-time 10 --unix-socket "$SOCKET" "http://engine/v4.0.0/libpod/containers/$id/healthcheck" >/dev/null 2>&1 || true
    done
    sleep 0.25
  done
}

start_healthchecks() {
  healthchecks_pid >/dev/null && return
  setsid bash "$SCRIPT" _healthchecks "$SOCKET" >"$HEALTH_LOG" 2>&1 </dev/null &
  echo $! >"$HEALTH_PID_FILE"
}

# Ends a process from one of this script's pid files: TERM, then KILL after a bounded wait.
end_process() {
  local pid=$1 what=$2
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT_S))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      say "$what (pid $pid) still running after ${STOP_TIMEOUT_S} s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
}

start_service() {
  local pid
  if pid="$(service_pid)"; then
    if answers; then
      say "API already answering on $SOCKET (pid $pid)"
      return
    fi
    say "the service (pid $pid) does not answer; starting it again"
    end_process "$pid" "podman system service"
  fi
  rm -f "$SOCKET"
  # setsid: the service outlives this script and is not hit by a Ctrl-C meant for the caller.
  setsid podman system service --time=0 "unix://$SOCKET" >"$SERVICE_LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -20 "$SERVICE_LOG" >&2
      rm -f "$PID_FILE"
      fail "podman system service exited before answering (log: $SERVICE_LOG)."
    fi
    if [ $SECONDS -ge $deadline ]; then
      kill "$pid" 2>/dev/null || true
      rm -f "$PID_FILE"
      tail -20 "$SERVICE_LOG" >&2
      fail "podman system service did not answer on $SOCKET within ${START_TIMEOUT_S} s (log: $SERVICE_LOG)."
    fi
    sleep 0.2
  done
  say "API answering on $SOCKET (pid $pid)"
}

# Containers still running are left alone: they belong to whoever started them (the kit stops its own).
stop_service() {
  local pid
  if pid="$(healthchecks_pid)"; then end_process "$pid" "health-check loop"; fi
  rm -f "$HEALTH_PID_FILE"
  if ! pid="$(service_pid)"; then
    rm -f "$PID_FILE" "$SOCKET"
    say "no service of this script is running"
    return
  fi
  end_process "$pid" "podman system service"
  rm -f "$PID_FILE" "$SOCKET"
  say "stopped the service (pid $pid)"
}

# The programs the entry point and testcontainers' checks run inside the container: a POSIX shell
# (dash as /bin/sh), bash, locale (initdb lists the locales with it) and a few tools.
IMAGE_TOOLS=(sh dash bash locale cat awk grep id chown chmod mkdir rm ls env sleep setpriv mktemp ln mv cp head tail sed tr wc date uname)

image_tool_paths() {
  local tool
  for tool in "${IMAGE_TOOLS[@]}"; do command -v "$tool" || fail "$tool not found on this machine"; done
}

# Every file of this machine the image is made from: PostgreSQL, the tools, every library they load
# and the locale. Their contents are part of the tag, so a library that changes without a listed
# package changing still makes a new image.
image_inputs() {
  local tools
  mapfile -t tools < <(image_tool_paths)
  {
    find "/usr/lib/postgresql/$PG_MAJOR" "/usr/share/postgresql/$PG_MAJOR" /usr/lib/locale/C.utf8 -type f \
      -not -path '*/bitcode/*' -not -name 'llvmjit*' -not -path '*/man/*'
    printf '%s\n' "${tools[@]}"
    library_closure "${tools[@]}" "/usr/lib/postgresql/$PG_MAJOR/bin/"* "/usr/lib/postgresql/$PG_MAJOR/lib/"*.so
  } | sort -u
}

image_tag() {
  local versions
  versions="$(dpkg-query -W "${IMAGE_PACKAGES[@]}" 2>/dev/null)" || fail "cannot read the versions of ${IMAGE_PACKAGES[*]} (dpkg-query); PostgreSQL $PG_MAJOR must be installed from Debian."
  local hash
  hash="$( { cat "$SCRIPT"; echo "$versions"; image_inputs | tr '\n' '\0' | xargs -0 sha256sum; } | sha256sum | cut -c1-12)"
  echo "$IMAGE_REPO:$PG_MAJOR-$hash"
}

# Copies a file to the same path under the root, keeping a symlink as a symlink when it points
# inside the same directory (library sonames) and copying what it points at as well.
copy_into() {
  local root=$1 path=$2
  [ -e "$root$path" ] || [ -L "$root$path" ] && return 0
  mkdir -p "$root$(dirname "$path")"
  if [ -L "$path" ]; then
    local target
    target="$(readlink "$path")"
    if [[ "$target" != */* ]]; then
      cp -P "$path" "$root$path"
      copy_into "$root" "$(dirname "$path")/$target"
      return
    fi
  fi
  cp -L --preserve=mode "$path" "$root$path"
}

# Every shared library the given executables and modules load, by ldd.
library_closure() {
  local file
  for file in "$@"; do
    ldd "$file" 2>/dev/null | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]+ \(/ { print $1 }'
  done | sort -u
}

# The entry point, written to honour the official postgres image's contract: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB, POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD, PGDATA,
# /docker-entrypoint-initdb.d, flags or `postgres ...` as the command, and the first start running a
# temporary local-only server for initialisation before the real one (so "ready to accept
# connections" is logged twice on a fresh data directory).
write_entrypoint() {
  cat >"$1" <<'EOF'
#!/bin/sh
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

# Flags alone mean flags for postgres.
case "${1:-}" in -*) set -- postgres "$@" ;; esac

if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_USER:=postgres}"
  : "${POSTGRES_DB:=$POSTGRES_USER}"
  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "error: the database is uninitialized and POSTGRES_PASSWORD is not set; set it, or POSTGRES_HOST_AUTH_METHOD=trust" >&2
    exit 1
  fi
  pwfile="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words by contract
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host="$auth" \
    --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-} >/dev/null
  rm -f "$pwfile"
  printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

  # The temporary server gets the command's settings too (fsync=off speeds up its shutdown
  # checkpoint), and listens on the socket only: nothing outside sees a half-initialised database.
  # pg_ctl hands -o to a shell, so each argument is single-quoted.
  options=""
  shift
  for arg in "$@"; do
    options="$options '$(printf '%s' "$arg" | sed "s/'/'\\\\''/g")'"
  done
  set -- postgres "$@"
  pg_ctl -D "$PGDATA" -o "$options -c listen_addresses='' -p 5432" -w -t 60 start
  if [ "$POSTGRES_DB" != postgres ]; then
    # psql quotes the name (:"db"); variables are only interpolated in what it reads, not in -c.
    echo 'CREATE DATABASE :"db"' | psql -v ON_ERROR_STOP=1 --no-psqlrc -q --username="$POSTGRES_USER" \
      --dbname=postgres --set=db="$POSTGRES_DB" >/dev/null
  fi
  for file in /docker-entrypoint-initdb.d/*; do
    [ -f "$file" ] || continue
    # shellcheck disable=SC1090 # the user's init scripts
    case "$file" in
      *.sh) echo "running $file"; . "$file" ;;
      *.sql) echo "running $file"; psql -v ON_ERROR_STOP=1 --no-psqlrc -q --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" -f "$file" ;;
      *) echo "ignoring $file" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w -t 60 stop
  echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
EOF
  chmod 755 "$1"
}

build_image() {
  local tag=$1
  local root
  root="$(mktemp -d "$ENGINE_DIR/rootfs.XXXXXX")"
  # shellcheck disable=SC2064 # the path is fixed now
  trap "rm -rf '$root' '$root.tar'" EXIT
  say "building $tag from the Debian packages ${IMAGE_PACKAGES[*]}"
  local started=$SECONDS

  # The usr-merged layout of Debian 12, so every path ldd prints exists in the image.
  mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/{etc,tmp,var/lib/postgresql,var/run/postgresql,docker-entrypoint-initdb.d,usr/local/bin,proc,sys,dev}
  ln -s usr/bin "$root/bin"
  ln -s usr/sbin "$root/sbin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  chmod 1777 "$root/tmp"

  # PostgreSQL itself at its Debian paths (the binaries find share/ and lib/ relative to themselves).
  # The JIT provider is left out: without llvmjit.so the server runs with JIT unavailable instead
  # of shipping LLVM.
  mkdir -p "$root/usr/lib/postgresql" "$root/usr/share/postgresql"
  cp -a "/usr/lib/postgresql/$PG_MAJOR" "$root/usr/lib/postgresql/"
  rm -rf "$root/usr/lib/postgresql/$PG_MAJOR/lib/bitcode" "$root/usr/lib/postgresql/$PG_MAJOR/lib/llvmjit"*
  cp -a "/usr/share/postgresql/$PG_MAJOR" "$root/usr/share/postgresql/"
  rm -rf "$root/usr/share/postgresql/$PG_MAJOR/man"
  cp -a /usr/share/zoneinfo "$root/usr/share/"
  mkdir -p "$root/usr/lib/locale"
  cp -a /usr/lib/locale/C.utf8 "$root/usr/lib/locale/"

  local tool tools
  mapfile -t tools < <(image_tool_paths)
  for tool in "${tools[@]}"; do copy_into "$root" "$tool"; done
  ln -sf dash "$root/usr/bin/sh"
  local lib
  while read -r lib; do copy_into "$root" "$lib"; done < <(
    library_closure "${tools[@]}" "$root/usr/lib/postgresql/$PG_MAJOR/bin/"* "$root/usr/lib/postgresql/$PG_MAJOR/lib/"*.so
  )
  [ -e "$root/lib64/ld-linux-x86-64.so.2" ] || fail "the dynamic loader was not found by ldd; cannot assemble the image."

  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
postgres:x:999:
nogroup:x:65534:
EOF
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
  write_entrypoint "$root/usr/local/bin/docker-entrypoint.sh"
  ln -s usr/local/bin/docker-entrypoint.sh "$root/docker-entrypoint.sh"
  chown -R 999:999 "$root/var/lib/postgresql" "$root/var/run/postgresql"

  tar --numeric-owner -C "$root" -cf "$root.tar" .
  local path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/$PG_MAJOR/bin"
  podman import --quiet \
    --change "ENV PATH=$path" \
    --change "ENV PG_MAJOR=$PG_MAJOR" \
    --change "ENV PGDATA=/var/lib/postgresql/data" \
    --change "ENV LANG=C.UTF-8" \
    --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' \
    --change 'STOPSIGNAL SIGINT' \
    --change 'EXPOSE 5432' \
    --change 'LABEL dev.tenantkit.image=postgres' \
    "$root.tar" "$tag" >/dev/null || fail "podman import of $tag failed."
  rm -rf "$root" "$root.tar"
  trap - EXIT
  say "built $tag in $((SECONDS - started)) s ($(podman image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
  remove_superseded "$tag"
}

# Earlier builds of this image (other inputs, other tags) are dead weight; one a container still
# uses stays.
remove_superseded() {
  local current=$1 old
  for old in $(podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$IMAGE_REPO"); do
    [ "$old" = "$current" ] && continue
    if podman rmi "$old" >/dev/null 2>&1; then say "removed the superseded image $old"; fi
  done
}

ensure_image() {
  local tag
  tag="$(image_tag)"
  if podman image exists "$tag"; then
    say "image $tag present"
  else
    [ -x "$PG_BIN/postgres" ] || fail "$PG_BIN/postgres not found: the image is made from the host's postgresql-$PG_MAJOR package (apt-get install postgresql-$PG_MAJOR)."
    build_image "$tag"
  fi
}

print_env() {
  local tag
  tag="$(image_tag)"
  cat <<EOF
export DOCKER_HOST=unix://$SOCKET
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
export TENANTKIT_CONTAINER_IMAGE=$tag
EOF
}

case "${1:-}" in
  start)
    # The image first: a failed build leaves no service behind.
    prepare_dir
    ensure_tools
    write_config
    ensure_image
    start_service
    start_healthchecks
    print_env
    ;;
  stop)
    stop_service
    ;;
  image)
    prepare_dir
    ensure_tools
    write_config
    ensure_image
    ;;
  env)
    print_env
    ;;
  _healthchecks)
    # Started by `start` in the background; the socket is the argument so the pid check can see it.
    run_healthchecks
    ;;
  *)
    fail "usage: $0 start|stop|image|env"
    ;;
esac
