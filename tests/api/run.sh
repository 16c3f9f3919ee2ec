#!/usr/bin/env bash
# The API against its own OpenAPI document: schemathesis generates requests from
# /v1/openapi.json (examples, boundary values, random data, valid and invalid) and sends them
# to a live hub with demo data, signed in. It fails on any 5xx, and on any answer whose status,
# content type or body the document does not describe.
#
# Usage: tests/api/run.sh SCHEMATHESIS   (the schemathesis executable; scripts/test.sh api)
set -euo pipefail
ST="$1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HUB="$ROOT/target/debug/outpost-hub"

work="$(mktemp -d -t outpost-api.XXXXXX)"
"$HUB" --data-dir "$work/data" demo --no-serve --patients 30 >"$work/logins"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
"$HUB" --data-dir "$work/data" serve --listen "127.0.0.1:$port" >/dev/null 2>"$work/hub.log" &
hub=$!
trap 'kill "$hub" 2>/dev/null; wait "$hub" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    curl -fs "$base/healthz" >/dev/null && break
    sleep 0.1
done

# An access token of the demo login with this role.
token() {
    local email password
    email="$(awk -v role="$1" '$1 == role { print $3; exit }' "$work/logins")"
    password="$(awk -v role="$1" '$1 == role { print $4; exit }' "$work/logins")"
    curl -fs "$base/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\": \"$email\", \"password\": \"$password\"}" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

run() {
    timeout 600 "$ST" run "$base/v1/openapi.json" --url "$base" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --phases examples,coverage,fuzzing --max-examples 20 --seed 1 "$@"
}

# A clinician over the patients and sync; the event stream never ends, so it is left out.
run -H "Authorization: Bearer $(token doctor)" \
    --include-tag patients --include-tag sync --exclude-operation-id events
# The front desk over the clinic's schedule: practitioners, appointments, the calendar.
run -H "Authorization: Bearer $(token front_desk)" --include-tag schedule
# A hospital's transport coordinator, then an EMS agency's dispatcher, over the transport
# records: facilities and requests are the coordinator's, units the dispatcher's.
run -H "Authorization: Bearer $(token transport_coordinator)" --include-tag transport
run -H "Authorization: Bearer $(token ems_dispatcher)" --include-tag transport
# The platform admin over everything else, but what would end the run's own session or
# rewrite whole tenants (delete, move, backup, restore, migrate: tested by the hub's tests).
run -H "Authorization: Bearer $(token platform_admin)" \
    --exclude-tag patients --exclude-tag sync --exclude-tag schedule --exclude-tag transport \
    --exclude-operation-id-regex '^(delete_tenant|move_tenant|backup_tenant|restore_tenant|migrate_tenants|logout)$'
