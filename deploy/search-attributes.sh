#!/bin/sh
# Register finsync's custom search attributes in a self-hosted Temporal namespace, once,
# before the first worker runs: the workflow upserts them on every state change and a
# namespace without them fails those workflow tasks. The embedded stack (`make up`) needs
# none of this; it passes the same list to `temporal server start-dev --search-attribute`.
#
# The list is read from workflows/search_attributes.py (run from the repository root), so
# code and namespace can not drift apart. Temporal Cloud registers search attributes with
# `tcld` instead of the operator API; `--list` prints the Name=Type pairs for that.
#
# Connection: the temporal CLI's own environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
# TEMPORAL_TLS_CLIENT_CERT_PATH/..._KEY_PATH or TEMPORAL_API_KEY); see deploy/README.md.
#
#   deploy/search-attributes.sh          # create the missing ones (existing ones are kept)
#   deploy/search-attributes.sh --list   # print Name=Type, one a line
set -eu

PYTHON=${PYTHON:-python3}
TEMPORAL=${TEMPORAL:-temporal}
cd "$(dirname "$0")/.."

# Loaded by path, not imported as a package: needs only temporalio installed, not the
# repository's other dependencies or PYTHONPATH.
pairs=$("$PYTHON" - <<'PY'
import importlib.util
spec = importlib.util.spec_from_file_location("sa", "workflows/search_attributes.py")
sa = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sa)
# Name=CliType=ENUM: each attribute's own type, as the CLI and tcld name it (Keyword, Datetime,
# Bool) and as the API does (DATETIME).
for key in sa.ALL:
    print(f"{key.name}={sa.type_name(key)}={key.indexed_value_type.name}")
PY
)

if [ "${1:-}" = "--list" ]; then
    printf '%s\n' "$pairs" | cut -d= -f1,2
    exit 0
fi

existing=$("$TEMPORAL" operator search-attribute list --output json)
for pair in $pairs; do
    name=${pair%%=*}
    enum=${pair##*=}
    type=${pair#*=}
    type=${type%=*}
    # Server 1.32 accepts a repeated create of the same type, older servers refuse it: skip
    # what is there. A name taken with another type is a conflict a person must settle.
    if printf '%s' "$existing" | grep -q "\"$name\": \"INDEXED_VALUE_TYPE_$enum\""; then
        echo "exists   $name ($type)"
    elif printf '%s' "$existing" | grep -q "\"$name\":"; then
        echo "error: search attribute $name exists with another type than $type" >&2
        exit 1
    else
        "$TEMPORAL" operator search-attribute create --name "$name" --type "$type" >/dev/null
        echo "created  $name ($type)"
    fi
done
