#!/bin/sh
# make-certs.sh [-c CLUSTER] DIR [NODE | client:NAME ...] - a test certificate
# authority, node and client certificates bound to a cluster.
#
# Writes, in DIR (created if missing):
#   ca.key ca.crt            a self-signed CA (EC P-256, 10 years)
#   NODE.key NODE.crt        per node: CN = NODE, subjectAltName
#                            URI:ringkv://CLUSTER/node/NODE, IP:127.0.0.1,
#                            DNS:localhost, DNS:NODE; signed by the CA;
#                            usable as both TLS server and TLS client certificate
#   NAME.key NAME.crt        per client:NAME: CN = NAME, subjectAltName
#                            URI:ringkv://CLUSTER/client/NAME (client only)
# CLUSTER defaults to "ringkv" (kvnode's default --cluster-name). kvnode
# refuses a verified peer whose certificate has no URI ringkv://CLUSTER/...
# for its own cluster, and accepts Hello role NODE under --users-file only
# from ringkv://CLUSTER/node/ID (rpc/tls.h, node/auth.h). NODE defaults to
# "node1". An existing CA in DIR is reused, so nodes (of any cluster) can
# be added later. For tests and local clusters only: keys are not encrypted.
set -eu

cluster=ringkv
if [ $# -ge 2 ] && [ "$1" = "-c" ]; then
    cluster=$2
    shift 2
fi
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: $0 [-c CLUSTER] DIR [NODE | client:NAME ...]" >&2
    exit 2
fi
case $cluster in
    *[!A-Za-z0-9._-]*|'') echo "make-certs: bad cluster name '$cluster'" >&2; exit 2 ;;
esac
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

for arg in "$@"; do
    node=${arg#client:}
    case $node in
        *[!A-Za-z0-9._-]*|'') echo "make-certs: bad name '$arg'" >&2; exit 2 ;;
    esac
    ext=$(mktemp)
    trap 'rm -f "$ext" "$dir/$node.csr"' EXIT
    if [ "$node" = "$arg" ]; then
        usage=serverAuth,clientAuth
        san="URI:ringkv://$cluster/node/$node,IP:127.0.0.1,DNS:localhost,DNS:$node"
    else
        usage=clientAuth
        san="URI:ringkv://$cluster/client/$node"
    fi
    cat >"$ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage
subjectAltName=$san
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
echo "make-certs: CA and certificates for: $* (cluster $cluster) in $dir"
