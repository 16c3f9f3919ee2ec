#!/usr/bin/env bash
# Runs Outpost's checks and tests in stages, all of them by default, in this order:
#
#   lint  formatting; one build of every target with clippy's lints (warnings as errors); the
#         dependency tree's licences, bans and sources (cargo-deny; deny.toml)
#   ui    the UI's type check and build (the desktop app embeds it) and its Vitest tests
#   unit  every Rust test (unit, the store suite on both backends, the real hub over HTTP on
#         the embedded backend, the client and the `outpost` binary against it) under a real
#         Secret Service, and a check that the generated TypeScript bindings are current
#   pg    the hub's tests again on PostgreSQL
#   api   schemathesis against a live hub, driven by its own OpenAPI document (tests/api)
#   e2e   the real desktop app under Xvfb, driven through tauri-driver, against a real hub
#   package  both .deb packages (scripts/package.sh) and what they hold: files, the systemd
#         unit, the update signature, and the hub's update endpoint serving the desktop build
#
# `scripts/test.sh unit pg` runs only those. Every cargo command names the whole workspace, so
# that features resolve once and nothing is built twice; and clippy lints while the workspace's
# own crates compile (clippy-driver as their compiler: see `lint_while_building`), so that the
# tests run on the build clippy checked, rather than checking everything a second time. Screenshots of the end-to-end run go
# to target/e2e-screenshots (OUTPOST_SCREENSHOTS=dir to write them elsewhere, e.g.
# docs/screenshots to refresh the README's). Prints how long each stage took.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL=(lint ui unit pg api e2e package)
STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=("${ALL[@]}")
for stage in "${STAGES[@]}"; do
    case " ${ALL[*]} " in
        *" $stage "*) ;;
        *) echo "unknown stage '$stage': choose from ${ALL[*]}" >&2; exit 2 ;;
    esac
done

# CI builds from scratch: incremental compilation would only write files nobody reads again.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

ensure_build_deps
cd "$ROOT"

# Clippy's lints, as errors, in every build of the workspace's own crates: clippy-driver is
# their compiler (a full rustc with clippy's lints; dependencies are compiled by rustc as
# always), given `-D warnings` the way `cargo clippy -- -D warnings` gives it. The same
# setting for every stage, so that one build serves them all.
lint_while_building() {
    local driver
    driver="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)" || {
        echo "clippy-driver not found: install clippy (rustup component add clippy)" >&2
        exit 1
    }
    export RUSTC_WORKSPACE_WRAPPER="$driver"
    export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
}
lint_while_building

# What compiling the workspace needs: WebKitGTK for the desktop app, and the UI's bundle,
# which the app embeds (built here when no earlier stage has).
prepare_build() {
    ensure_desktop_deps
    [ -d ui/dist ] || npm --prefix ui run build
}

# Every target of the workspace, once (linted by clippy as it compiles); later stages find it
# built.
build_workspace() {
    prepare_build
    cargo build --workspace --all-targets --locked
}

stage_lint() {
    cargo fmt --all -- --check
    build_workspace
    ensure_cargo_tool cargo-deny cargo-deny
    cargo deny --locked check licenses bans sources
    # Known vulnerabilities need the RustSec database, which lives on GitHub: checked wherever
    # it can be fetched (a finding fails the stage), and said loudly where it cannot.
    if timeout 20 git ls-remote https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
        cargo deny --locked check advisories
    else
        log "WARNING: the RustSec advisory database (github.com) cannot be reached from here: advisories NOT checked"
    fi
}

stage_ui() {
    ensure_desktop_deps
    npm --prefix ui run build
    npm --prefix ui test
}

stage_unit() {
    ensure_apt_packages gnome-keyring dbus
    ensure_cargo_tool cargo-nextest cargo-nextest
    ensure_postgres
    ensure_second_postgres
    build_workspace
    with_keyring cargo nextest run --workspace --locked --no-fail-fast
    log "the TypeScript bindings in ui/src/bindings match the Rust types"
    if ! git diff --exit-code --stat -- ui/src/bindings \
        || [ -n "$(git ls-files --others --exclude-standard ui/src/bindings)" ]; then
        echo "ui/src/bindings changed when regenerated: run the tests and commit the result" >&2
        return 1
    fi
}

stage_pg() {
    ensure_cargo_tool cargo-nextest cargo-nextest
    ensure_postgres
    ensure_second_postgres
    prepare_build
    # The same feature resolution as the unit stage (the whole workspace), filtered to the hub.
    OUTPOST_TEST_BACKEND=postgres cargo nextest run --workspace --locked --no-fail-fast \
        -E 'package(outpost-hub)'
}

# An updater key pair made for this run (never committed): the app under test is built with
# its public key, the e2e tests sign the builds they publish with it, and the package stage
# signs the desktop .deb with it.
updater_test_key() {
    local dir="$ROOT/target/updater-test-key"
    if [ ! -f "$dir/updater.key" ]; then
        mkdir -p "$dir"
        ui/node_modules/.bin/tauri signer generate --ci -w "$dir/updater.key" >/dev/null
    fi
    export OUTPOST_E2E_UPDATER_KEY="$dir/updater.key"
    OUTPOST_UPDATER_PUBKEY="$(cat "$dir/updater.key.pub")"
    export OUTPOST_UPDATER_PUBKEY
    TAURI_SIGNING_PRIVATE_KEY="$(cat "$dir/updater.key")"
    export TAURI_SIGNING_PRIVATE_KEY TAURI_SIGNING_PRIVATE_KEY_PASSWORD=""
    export TAURI_CONFIG="{\"plugins\":{\"updater\":{\"pubkey\":\"$OUTPOST_UPDATER_PUBKEY\"}}}"
}

stage_api() {
    build_workspace
    local venv="$ROOT/target/api-venv"
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        ensure_apt_packages python3 python3-venv
    fi
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/api/requirements.txt
    bash tests/api/run.sh "$venv/bin/schemathesis"
}

stage_e2e() {
    ensure_apt_packages gnome-keyring dbus
    ensure_e2e_deps
    prepare_build
    updater_test_key
    # Every target, as the unit stage built them: only the app is built again (its updater key).
    cargo build --workspace --all-targets --locked
    with_keyring xvfb-run -a -s "-screen 0 1280x800x24" \
        "$E2E_PYTHON" -m pytest tests/desktop -v -p no:cacheprovider
}

stage_package() {
    ensure_apt_packages minisign systemd
    ensure_e2e_deps
    prepare_build
    updater_test_key
    OUTPOST_PACKAGE_PROFILE=dev bash scripts/package.sh
    "$E2E_PYTHON" -m pytest tests/packaging -v -p no:cacheprovider
}

TIMES=()
for stage in "${STAGES[@]}"; do
    log "stage $stage"
    started=$SECONDS
    "stage_$stage"
    TIMES+=("$stage $((SECONDS - started)) s")
done
log "stage times: ${TIMES[*]}"
