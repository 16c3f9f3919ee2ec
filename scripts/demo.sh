#!/usr/bin/env bash
# Runs the Outpost demo: builds the hub, creates demo tenants, users (logins printed once) and
# 5,000 synthetic patients per clinic and hospital in a fresh encrypted data directory, then
# serves on http://127.0.0.1:8080 (override with OUTPOST_LISTEN). Ctrl-C stops it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_build_deps
cd "$ROOT"
log "building outpost-hub"
cargo build --release -p outpost-hub
DATA="${OUTPOST_DEMO_DIR:-$(mktemp -d -t outpost-demo.XXXXXX)}"
log "demo data directory: $DATA"
exec target/release/outpost-hub demo --data-dir "$DATA" --listen "${OUTPOST_LISTEN:-127.0.0.1:8080}"
