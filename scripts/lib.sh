# Shared by demo.sh and test.sh: installs what building Outpost needs on Debian/Ubuntu.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt packages the workspace needs to build (SQLCipher links the system libcrypto).
ensure_apt_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

# A Rust toolchain new enough for edition 2024 (Debian's own cargo is too old).
ensure_rust() {
    if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
    if ! command -v cargo >/dev/null 2>&1; then
        log "installing Rust with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
        . "$HOME/.cargo/env"
    fi
    for component in clippy rustfmt; do
        if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
            rustup component add "$component"
        fi
    done
}

ensure_build_deps() {
    ensure_apt_packages build-essential pkg-config libssl-dev curl ca-certificates
    ensure_rust
}

# A cargo tool, installed from crates.io when absent.
ensure_cargo_tool() {
    local bin="$1" crate="$2"
    if ! command -v "$bin" >/dev/null 2>&1; then
        log "installing $crate"
        cargo install --locked "$crate"
    fi
}

# What the desktop app (Tauri v2 over WebKitGTK) needs to build, and its UI's npm packages.
ensure_desktop_deps() {
    ensure_apt_packages libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev
    # Node.js from wherever the machine has it (a NodeSource nodejs bundles npm, and Debian's
    # npm package would conflict with it); Debian's when there is none.
    if ! command -v npm >/dev/null 2>&1; then ensure_apt_packages nodejs npm; fi
    log "installing the UI's npm packages"
    # `npm install --no-save` rather than `npm ci`: the versions still come from the committed
    # package-lock.json, but a lock written where npm omits other platforms' optional packages
    # (rollup's native builds) is not refused.
    npm --prefix "$ROOT/ui" install --no-audit --no-fund --no-save
}

# What the end-to-end tests need: a virtual display, WebKitGTK's WebDriver, tauri-driver in
# front of it, and Selenium + pytest in a virtual environment under target/ (sets E2E_PYTHON).
ensure_e2e_deps() {
    ensure_apt_packages xvfb xauth webkit2gtk-driver
    ensure_cargo_tool tauri-driver tauri-driver
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        ensure_apt_packages python3 python3-venv
    fi
    local venv="$ROOT/target/e2e-venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/tests/desktop/requirements.txt"
    E2E_PYTHON="$venv/bin/python"
}

# A PostgreSQL server for the PostgreSQL backend's tests: the one on 127.0.0.1:5432 when it
# answers, else Debian's package installed and started, with a password for `postgres` over TCP
# (a fresh install does not trust TCP logins). Exports OUTPOST_TEST_POSTGRES.
ensure_postgres() {
    ensure_apt_packages postgresql-client
    export OUTPOST_TEST_POSTGRES="${OUTPOST_TEST_POSTGRES:-host=127.0.0.1 port=5432 user=postgres dbname=postgres}"
    if psql "$OUTPOST_TEST_POSTGRES" -Atc 'SELECT 1' >/dev/null 2>&1; then return; fi
    log "no PostgreSQL answering on 127.0.0.1:5432: installing and starting Debian's"
    ensure_apt_packages postgresql
    as_root pg_ctlcluster "$(ls /etc/postgresql | sort -V | tail -1)" main start 2>/dev/null \
        || as_root service postgresql start
    local password="outpost-test"
    as_root su postgres -c "psql -Atc \"ALTER USER postgres PASSWORD '$password'\"" >/dev/null
    export OUTPOST_TEST_POSTGRES="host=127.0.0.1 port=5432 user=postgres password=$password dbname=postgres"
    psql "$OUTPOST_TEST_POSTGRES" -Atc 'SELECT 1' >/dev/null
}

# A second PostgreSQL cluster (port 5434, trust on 127.0.0.1) for the tests that move a tenant
# between servers. Without Debian's cluster tools those tests use the first server twice.
ensure_second_postgres() {
    local url="postgres://postgres@127.0.0.1:5434/postgres"
    if ! psql "$url" -Atc 'SELECT 1' >/dev/null 2>&1; then
        if ! command -v pg_createcluster >/dev/null; then
            log "no pg_createcluster: the move tests use one PostgreSQL server under two names"
            return
        fi
        local version
        version="$(ls /etc/postgresql | sort -V | tail -1)"
        log "starting a second PostgreSQL cluster on port 5434 for the move tests"
        if as_root pg_lsclusters -h | grep -q "^$version outpost-second "; then
            as_root pg_ctlcluster "$version" outpost-second start
        else
            as_root pg_createcluster "$version" outpost-second --port 5434 --start \
                -- --auth-host=trust --auth-local=trust >/dev/null
        fi
        psql "$url" -Atc 'SELECT 1' >/dev/null
    fi
    export OUTPOST_TEST_POSTGRES_SECOND="$url"
}

# Runs a command inside a private D-Bus session whose Secret Service is gnome-keyring, unlocked,
# over a throwaway data directory: the client's keyring is real, and no daemon is left behind.
with_keyring() {
    local data status=0
    data="$(mktemp -d -t outpost-keyring.XXXXXX)"
    XDG_DATA_HOME="$data" dbus-run-session -- bash -c '
        printf "%s" "test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
        exec "$@"' with_keyring "$@" || status=$?
    rm -rf "$data"
    return "$status"
}
