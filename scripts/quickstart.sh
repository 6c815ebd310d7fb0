#!/usr/bin/env bash
# aivault's main job end to end, in a throwaway vault: store an API key, see it pinned to its
# provider with the credential and capabilities provisioned, list secrets (never values),
# invoke a capability through the broker against a local service that echoes what it got
# (the key reaches the service; the caller only sees [REDACTED]), and check that the key is
# nowhere in plaintext on disk.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p aivault-cli
aivault="${CARGO_TARGET_DIR:-$PWD/target}/release/aivault"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export AIVAULT_DIR="$work/vault"
export AIVAULT_RUNTIME_DIR="$work/runtime"
unset AIVAULT_KEY AIVAULT_PASSPHRASE
demo_key="sk-demo-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' reset=$'\033[0m'; else bold='' reset=''; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$reset"; }

step aivault status
"$aivault" status

step 'aivault secrets create --name OPENAI_API_KEY --value "sk-demo-..." --scope global'
"$aivault" secrets create --name OPENAI_API_KEY --value "$demo_key" --scope global

step 'aivault secrets import --entry TRELLO_API_KEY=... --entry TRELLO_TOKEN=... --entry MY_CUSTOM_KEY=...'
"$aivault" secrets import --entry TRELLO_API_KEY=demo-key --entry TRELLO_TOKEN=demo-token --entry MY_CUSTOM_KEY=demo-custom

step aivault secrets list
"$aivault" secrets list

step aivault credential list
"$aivault" credential list

step 'aivault capability list | head -n 12'
"$aivault" capability list | head -n 12

step 'aivault capability describe openai/chat-completions   # how an agent calls it'
"$aivault" capability describe openai/chat-completions

custom_ref="vault:secret:$("$aivault" secrets list -v | python3 -c 'import json,sys; print(next(s["secretId"] for s in json.load(sys.stdin) if s["name"] == "MY_CUSTOM_KEY"))')"
step "aivault credential create acme --provider acme --secret-ref $custom_ref --auth header --header-name authorization --value-template 'Bearer {{secret}}' --host api.acme.example"
"$aivault" credential create acme --provider acme --secret-ref "$custom_ref" --auth header \
  --header-name authorization --value-template 'Bearer {{secret}}' --host api.acme.example

step 'aivault capability create acme/reports --credential acme --method GET --path /v1/reports'
"$aivault" capability create acme/reports --credential acme --method GET --path /v1/reports

step 'aivault capability policy set --capability acme/reports --rate-limit-per-minute 30'
"$aivault" capability policy set --capability acme/reports --rate-limit-per-minute 30

# A local service standing in for an API: it records the authorization header it receives and
# echoes it back in its response, as a careless (or hostile) upstream might.
python3 -c '
import http.server, json, sys
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen = self.headers.get("authorization", "")
        open(sys.argv[1], "a").write(seen + "\n")
        body = json.dumps({"path": self.path, "you_sent": seen}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Echo)
open(sys.argv[2], "w").write(str(server.server_port))
server.serve_forever()
' "$work/received.log" "$work/port" &
echo_pid=$!
trap 'kill $echo_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port="$(cat "$work/port")"

step "aivault credential create local-echo --provider local-echo --secret-ref $custom_ref --auth header --header-name authorization --value-template 'Bearer {{secret}}' --host localhost:$port --allow-private-network --insecure-http"
"$aivault" credential create local-echo --provider local-echo --secret-ref "$custom_ref" --auth header \
  --header-name authorization --value-template 'Bearer {{secret}}' --host "localhost:$port" \
  --allow-private-network --insecure-http

step 'aivault capability create local-echo/echo --credential local-echo --method GET --path /v1/echo'
"$aivault" capability create local-echo/echo --credential local-echo --method GET --path /v1/echo

step 'aivault json local-echo/echo --path "/v1/echo?q=hello"   # the broker injects the key; the echo comes back redacted'
"$aivault" json local-echo/echo --path "/v1/echo?q=hello"
if ! grep -q -F "Bearer demo-custom" "$work/received.log"; then
  echo "FAIL: the local service did not receive the injected key" >&2
  exit 1
fi
echo "the local service received 'Bearer <MY_CUSTOM_KEY>'; the caller saw only [REDACTED]"

step 'aivault invoke openai/models --path "/v1/models/../../etc"   # refused before anything is sent'
if "$aivault" invoke openai/models --path "/v1/models/../../etc"; then
  echo "FAIL: a path with .. was accepted" >&2
  exit 1
fi

step aivault secrets verify
"$aivault" secrets verify

step aivault audit verify
"$aivault" audit verify

step 'aivault audit --kind capability.invoke --limit 2'
"$aivault" audit --kind capability.invoke --limit 2

step "grep -rc <the demo key> \$AIVAULT_DIR   # the value is stored encrypted only"
if grep -r -q -F "$demo_key" "$AIVAULT_DIR"; then
  echo "FAIL: the demo key is in plaintext on disk" >&2
  exit 1
fi
echo "not found in any file: ok"
