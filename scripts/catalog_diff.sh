#!/bin/sh
# Compares the capability catalog of two aivault builds byte for byte: `capability list`,
# `capability list -v` and `capability describe ID` (text and -v JSON) for every capability,
# on copies of one vault holding registry-claimed secrets (ready credentials), a custom
# credential and a custom capability. Use it when a change touches the registry or how it is
# loaded: the outputs of the two builds must be identical.
#
# Usage: scripts/catalog_diff.sh OLD_BINARY NEW_BINARY
set -eu
old=$(realpath "$1")
new=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" LC_ALL=C NO_COLOR=1
mkdir -p "$HOME"

# The vault, made by the old build.
export AIVAULT_DIR="$work/vault"
"$old" init >/dev/null 2>&1
for name in OPENAI_API_KEY TRELLO_API_KEY TRELLO_TOKEN ANTHROPIC_API_KEY MY_CUSTOM; do
    echo "canary-catalog-$name" | "$old" secrets create --name "$name" --value-stdin >/dev/null 2>&1
done
custom=$("$old" secrets list -v | python3 -c '
import json, sys
d = json.load(sys.stdin)
items = d if isinstance(d, list) else d["secrets"]
print([s for s in items if s["name"] == "MY_CUSTOM"][0]["secretId"])')
"$old" credential create acme --provider acme --secret-ref "vault:secret:$custom" --auth header \
    --header-name x-api-key --value-template '{{secret}}' --host api.acme.dev >/dev/null 2>&1
"$old" capability create acme/items --credential acme --method GET --path /v1/items >/dev/null 2>&1

dump() { # dump BINARY OUT_DIR
    rm -rf "$work/copy"
    cp -a "$work/vault" "$work/copy"
    mkdir -p "$2"
    AIVAULT_DIR="$work/copy" "$1" capability list >"$2/list.txt"
    AIVAULT_DIR="$work/copy" "$1" capability list -v >"$2/list-v.json"
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("\n".join(c["id"] for c in d["capabilities"] + d["registryCapabilities"]))' "$2/list-v.json" |
        while read -r id; do
            file=$(echo "$id" | tr / _)
            AIVAULT_DIR="$work/copy" "$1" capability describe "$id" >"$2/$file.txt"
            AIVAULT_DIR="$work/copy" "$1" capability describe "$id" -v >"$2/$file.json"
        done
}
dump "$old" "$work/old"
dump "$new" "$work/new"
count=$(ls "$work/new" | wc -l)
if diff -r "$work/old" "$work/new"; then
    echo "identical: $count outputs ($(grep -c '"id"' "$work/new/list-v.json") ids in list -v)"
else
    echo "the catalogs differ" >&2
    exit 1
fi
