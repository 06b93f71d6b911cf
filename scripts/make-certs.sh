#!/bin/sh
# make-certs.sh DIR [NODE...] - a test certificate authority and node certificates.
#
# Writes, in DIR (created if missing):
#   ca.key ca.crt            a self-signed CA (EC P-256, 10 years)
#   NODE.key NODE.crt        per node: CN = NODE, subjectAltName
#                            IP:127.0.0.1, DNS:localhost, DNS:NODE; signed by the CA;
#                            usable as both TLS server and TLS client certificate
# NODE defaults to "node1". An existing CA in DIR is reused, so nodes can be
# added later. For tests and local clusters only: keys are not encrypted.
set -eu

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: $0 DIR [NODE...]" >&2
    exit 2
fi
dir=$1
shift
[ $# -gt 0 ] || set -- node1
command -v openssl >/dev/null || { echo "make-certs: openssl not found" >&2; exit 1; }

mkdir -p "$dir"
umask 077
days=3650

if [ ! -f "$dir/ca.key" ] || [ ! -f "$dir/ca.crt" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$days" \
        -subj "/CN=ringkv test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$dir/ca.crt" 2>/dev/null
fi

for node in "$@"; do
    case $node in
        *[!A-Za-z0-9._-]*|'') echo "make-certs: bad node id '$node'" >&2; exit 2 ;;
    esac
    ext=$(mktemp)
    trap 'rm -f "$ext" "$dir/$node.csr"' EXIT
    cat >"$ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:$node
EXT
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$node.key"
    openssl req -new -key "$dir/$node.key" -subj "/CN=$node" -out "$dir/$node.csr"
    openssl x509 -req -in "$dir/$node.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -sha256 -days "$days" -extfile "$ext" \
        -out "$dir/$node.crt" 2>/dev/null
    rm -f "$ext" "$dir/$node.csr"
    trap - EXIT
done
chmod 644 "$dir"/*.crt
echo "make-certs: CA and certificates for: $* in $dir"
