#!/usr/bin/env bash
# Runs every check and test of Outpost: formatting, clippy with warnings as errors, and the
# whole test suite (unit, store suite, real hub over HTTP, the CLI binary) with nextest.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_build_deps
ensure_cargo_tool cargo-nextest cargo-nextest
cd "$ROOT"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "tests"
cargo nextest run --workspace --locked --no-fail-fast
