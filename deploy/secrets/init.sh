#!/bin/sh
# Create the secret files deploy/compose.yaml mounts, once. Never overwrites one that exists:
# a new payload key would make every encrypted history unreadable (deploy/README.md).
# SAP and bank passwords are taken from FINSYNC_SAP_PASSWORD / FINSYNC_BANK_PASSWORD in this
# shell (read them from your secret store), Tryton's from FINSYNC_TRYTON_PASSWORD where a legal
# entity books in Tryton (else the file stays empty); everything else is generated.
#
#   FINSYNC_SAP_PASSWORD=... FINSYNC_BANK_PASSWORD=... [FINSYNC_TRYTON_PASSWORD=...] deploy/secrets/init.sh
set -eu
cd "$(dirname "$0")"
# Compose (without swarm) bind-mounts each file as it is, and the containers read them as
# other users (finsync 10001, postgres 999): the files are readable, the directory is not.
chmod 700 .
umask 022

random() { python3 -c "import base64, secrets; print(base64.b64encode(secrets.token_bytes($1)).decode())"; }
create() {  # create NAME CONTENT
    if [ -e "$1" ]; then echo "kept     $1"; else printf '%s' "$2" > "$1"; echo "created  $1"; fi
}

create temporal_db_password "$(random 24 | tr -d '/+=')"
create treasury_db_password "$(random 24 | tr -d '/+=')"
create finsync_treasury_db_url "postgresql+psycopg://finsync:$(cat treasury_db_password)@treasury-db:5432/treasury"
create finsync-codec.key "$(random 32)"
# The key of the bank-account fingerprints (HMAC): never changed once set (a new key makes every
# account look changed at the next vendor sync).
create finsync_fingerprint_key "$(random 32)"
# Intake's own payload key (it never holds finsync-codec.key); the workers read it from the read-keys file.
create finsync-intake-codec.key "$(random 32)"
create finsync-codec-read-keys "# <key id> <base64 key>, one a line: keys that only decrypt (rotation, intake's key)
finsync-intake-1 $(cat finsync-intake-codec.key)
"
grep -q '^finsync-intake-1 ' finsync-codec-read-keys ||
    echo "note: add the line 'finsync-intake-1 <the key in finsync-intake-codec.key>' to finsync-codec-read-keys"
# The access points that may push e-invoices to intake, each with its HMAC secret (give it to that sender).
create finsync-intake-senders "# <sender id> <secret>, one a line
einvoice-ap $(random 32 | tr -d '/+=')
"
create finsync_sap_password "${FINSYNC_SAP_PASSWORD:?set FINSYNC_SAP_PASSWORD to the SAP user's password}"
create finsync_bank_password "${FINSYNC_BANK_PASSWORD:?set FINSYNC_BANK_PASSWORD to the bank API password}"
# Compose mounts every secret it names: an entity-less Tryton gets an empty file (no login is made).
create finsync_tryton_password "${FINSYNC_TRYTON_PASSWORD:-}"
echo "back up finsync-codec.key, finsync-intake-codec.key, finsync_fingerprint_key and the read-keys file in your secret store: losing them loses the bank details"
