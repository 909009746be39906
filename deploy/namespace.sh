#!/bin/sh
# Create finsync's namespace on a self-hosted cluster, or bring an existing one to the given
# retention and archival: safe to run on every deploy. Temporal Cloud sets both with tcld
# (deploy/README.md, "Temporal Cloud").
#
# Retention: how long Temporal keeps a *closed* workflow's history (a lifecycle runs for
# months; this clock starts when it completes). Finance's own record of every payment and
# decision is outside Temporal (architecture invariant 13: the treasury store, the ERP); the
# history is the evidence of how it happened, so keep it long enough for the month-end close
# and an audit query (default 90 days), and archive it for the statutory period.
#
# Archival: closed histories are copied to a durable store (s3://, gs://, file:// on a
# mounted volume) before retention deletes them. The cluster must have archival enabled in its
# server configuration (`archival:` and `namespaceDefaults:`); an archival state, once
# enabled, cannot be turned off again, and the URI of a namespace cannot be changed later.
# Histories are archived as they are stored: bank details stay encrypted by the payload codec,
# so the codec keys must be kept (read-keys file) for as long as the archive.
#
# Connection: the temporal CLI's own environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
# TEMPORAL_TLS_CLIENT_CERT_PATH/..._KEY_PATH or TEMPORAL_API_KEY).
#
#   deploy/namespace.sh [--retention 90d] [--history-uri s3://bucket/finsync] [--visibility-uri s3://...]
set -eu

TEMPORAL=${TEMPORAL:-temporal}
NAMESPACE=${TEMPORAL_NAMESPACE:-default}
retention=90d
history_uri=""
visibility_uri=""
while [ $# -gt 0 ]; do
    case "$1" in
        --retention) retention=$2; shift 2 ;;
        --history-uri) history_uri=$2; shift 2 ;;
        --visibility-uri) visibility_uri=$2; shift 2 ;;
        *) echo "usage: $0 [--retention 90d] [--history-uri URI] [--visibility-uri URI]" >&2; exit 2 ;;
    esac
done

# Archival flags only when asked for: enabling is one-way.
set -- --retention "$retention"
if [ -n "$history_uri" ]; then
    set -- "$@" --history-archival-state enabled --history-uri "$history_uri"
fi
if [ -n "$visibility_uri" ]; then
    set -- "$@" --visibility-archival-state enabled --visibility-uri "$visibility_uri"
fi

if "$TEMPORAL" operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
    # The same flags: a URI equal to the one set at creation is accepted, another is refused.
    "$TEMPORAL" operator namespace update --namespace "$NAMESPACE" "$@" >/dev/null
    echo "updated  namespace $NAMESPACE (retention $retention)"
else
    "$TEMPORAL" operator namespace create --namespace "$NAMESPACE" --description "finsync invoice-to-payment" "$@" \
        >/dev/null
    echo "created  namespace $NAMESPACE (retention $retention${history_uri:+, history archived to $history_uri})"
fi
