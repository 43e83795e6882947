#!/usr/bin/env bash
# A throw-away CA and a server certificate it signed for 127.0.0.1 and
# localhost, for the mock provider's and nginx's HTTPS in the benchmarks and
# tests. Made fresh at every run (never committed): the gateway verifies the
# server against ca.pem (`ca_file`), with verification on as in production.
#
#   bench/tls_certs.sh DIR     writes DIR/ca.pem, DIR/server.pem, DIR/server.key
#
# P-256 ECDSA keys, as most HTTPS APIs present today; keep-alive makes the
# handshake a one-off, so the key type hardly shows in CPU per request.
set -euo pipefail

dir="${1:?usage: tls_certs.sh DIR}"
mkdir -p "$dir"
command -v openssl >/dev/null 2>&1 || { echo "tls_certs: openssl not installed" >&2; exit 1; }

ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 \
  -subj "/CN=omnigate bench CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null
openssl req "${ec[@]}" -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=localhost" \
  2>/dev/null
cat >"$dir/server.ext" <<'EOF'
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EOF
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
  -CAcreateserial -out "$dir/server.pem" -days 2 -extfile "$dir/server.ext" 2>/dev/null
rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl" "$dir/ca.key"
