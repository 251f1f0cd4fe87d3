#!/usr/bin/env bash
# The project's test command: the whole workspace's tests, the AWS backend's
# included, against a moto server on loopback that this script installs, starts
# and stops.
#
#   scripts/test.sh                 # cargo test --workspace
#   scripts/test.sh -p convox-aws   # arguments replace --workspace: cargo test -p convox-aws
#
# moto lives in a virtualenv under the cargo target directory, installed once.
# That needs python3 with venv: when it is missing, the script installs it with
# apt-get if it runs as root, and otherwise says what to install.
set -euo pipefail

cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$target_dir/moto-venv"
moto_server="$venv/bin/moto_server"

# `python3 -m venv` needs the venv module and ensurepip; Debian and Ubuntu ship
# both in python3-venv, apart from python3 itself.
has_venv() {
    command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' 2>/dev/null
}

ensure_venv() {
    has_venv && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "python3 venv is missing: installing python3-venv with apt-get" >&2
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y python3 python3-venv >&2
    fi
    if ! has_venv; then
        echo "scripts/test.sh needs python3 with venv to install moto." >&2
        echo "Install it (Debian/Ubuntu: sudo apt-get install python3-venv) or run this script as root." >&2
        exit 1
    fi
}

if [ "$(cat "$venv/.convox-moto-version" 2>/dev/null)" != "$MOTO_VERSION" ] || [ ! -x "$moto_server" ]; then
    ensure_venv
    echo "installing moto $MOTO_VERSION into $venv" >&2
    mkdir -p "$target_dir"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
    echo "$MOTO_VERSION" > "$venv/.convox-moto-version"
fi

# A free loopback port: bind port 0 and let the kernel choose.
port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$target_dir/moto-$port.log"

# The shared server never records: a test that reads moto's request recorder
# starts a server of its own (CONVOX_MOTO_SERVER below), so that no other test
# writes to its recording.
# ACM keeps a requested certificate PENDING_VALIDATION until its DNS record is
# published; moto issues it MOTO_ACM_VALIDATION_WAIT seconds after the request
# (60 by default). 0 here, so that a deploy sees the external router's public
# certificate issued as soon as it asked; the tests of the wait start a server
# of their own with a longer one. Servers the tests start inherit this.
export MOTO_ACM_VALIDATION_WAIT="${MOTO_ACM_VALIDATION_WAIT:-0}"
"$moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
stop_moto() {
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
    rm -f "$log"
}
trap stop_moto EXIT

endpoint="http://127.0.0.1:$port"
ready=""
for _ in $(seq 1 150); do
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        echo "moto_server exited before it answered:" >&2
        cat "$log" >&2
        exit 1
    fi
    if "$venv/bin/python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/moto-api/', timeout=1)" "$endpoint" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.2
done
if [ -z "$ready" ]; then
    echo "moto_server did not answer on $endpoint within 30 s:" >&2
    cat "$log" >&2
    exit 1
fi
echo "moto $MOTO_VERSION listening on $endpoint (pid $moto_pid)" >&2

export CONVOX_MOTO_ENDPOINT="$endpoint"
# Constant, unlike the port: the build scripts key on it (see convox-aws/build.rs).
export CONVOX_MOTO=1
# The story test starts its own server with this, on another free loopback port.
export CONVOX_MOTO_SERVER="$moto_server"
# The virtualenv's python has boto3 (a dependency of moto): the story test runs
# scripts/aws_inspect.py with it, an AWS client independent of ours.
export CONVOX_MOTO_PYTHON="$venv/bin/python"
# Fake credentials and a fixed region: nothing may reach for a real account, a
# profile or instance metadata.
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_SESSION_TOKEN=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE

if [ "$#" -eq 0 ]; then
    set -- --workspace
fi
cargo test "$@"
