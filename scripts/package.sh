#!/usr/bin/env bash
# Builds Outpost's installable packages into target/dist/:
#
#   outpost-hub_<version>-1_amd64.deb   the hub as a hardened systemd service (cargo-deb)
#   Outpost_<version>_amd64.deb         the desktop app (the Tauri bundler)
#   Outpost_<version>_amd64.deb.sig     its update signature
#
# The desktop app installs an update only when its signature verifies against the public key
# built into it. Both halves of that key come from the environment and never from the
# repository:
#   TAURI_SIGNING_PRIVATE_KEY           the private key (its content or its file), which signs;
#   TAURI_SIGNING_PRIVATE_KEY_PASSWORD  its password ("" for none);
#   OUTPOST_UPDATER_PUBKEY              the public key (the .pub file's content), built in.
# Make a pair once with `npx tauri signer generate -w ~/.outpost/updater.key` and keep the
# private key offline (docs/OPERATIONS.md, "Publishing a desktop update").
#
# OUTPOST_PACKAGE_PROFILE=dev packages the debug build the tests already made (what CI checks);
# the default is an optimised release build.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

profile="${OUTPOST_PACKAGE_PROFILE:-release}"
case "$profile" in
    release) cargo_profile=(--release --bins); tauri_profile=(); out=release ;;
    # Every target, as the tests build them: the same features, so nothing is built again.
    dev) cargo_profile=(--all-targets); tauri_profile=(--debug); out=debug ;;
    *) echo "OUTPOST_PACKAGE_PROFILE is release or dev, not '$profile'" >&2; exit 2 ;;
esac
: "${TAURI_SIGNING_PRIVATE_KEY:?set TAURI_SIGNING_PRIVATE_KEY: the updater signing key (see the header of this script)}"
: "${OUTPOST_UPDATER_PUBKEY:?set OUTPOST_UPDATER_PUBKEY: the updater public key the app checks updates against}"
export TAURI_SIGNING_PRIVATE_KEY_PASSWORD="${TAURI_SIGNING_PRIVATE_KEY_PASSWORD:-}"
# It goes into JSON below: the .pub file's one base64 line, nothing else.
if ! [[ "$OUTPOST_UPDATER_PUBKEY" =~ ^[A-Za-z0-9+/=]+$ ]]; then
    echo "OUTPOST_UPDATER_PUBKEY must be the content of the .pub file (one base64 line)" >&2
    exit 2
fi

ensure_build_deps
ensure_desktop_deps
ensure_cargo_tool cargo-deb cargo-deb
cd "$ROOT"

log "building the UI and every binary ($profile)"
npm --prefix ui run build
# The public key goes into the app's embedded configuration (tauri-build reads TAURI_CONFIG).
# The whole workspace, as the tests build it: one feature resolution, nothing built twice.
TAURI_CONFIG="{\"plugins\":{\"updater\":{\"pubkey\":\"$OUTPOST_UPDATER_PUBKEY\"}}}" \
    cargo build --workspace --locked "${cargo_profile[@]}"

dist="$ROOT/target/dist"
rm -rf "$dist"
mkdir -p "$dist"

log "the hub's .deb"
cargo deb -p outpost-hub --no-build --profile "$profile" --output "$dist/" >/dev/null

log "the desktop app's .deb, signed for the updater"
rm -rf "target/$out/bundle/deb"
ui/node_modules/.bin/tauri bundle "${tauri_profile[@]}" --bundles deb --ci \
    --config "{\"plugins\":{\"updater\":{\"pubkey\":\"$OUTPOST_UPDATER_PUBKEY\"}}}"
cp "target/$out/bundle/deb/"*.deb "target/$out/bundle/deb/"*.deb.sig "$dist/"

log "packages in $dist:"
ls -l "$dist" >&2
