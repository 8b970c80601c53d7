#!/usr/bin/env bash
# Certificates for the SOCKS-over-TLS tests and bench, made with openssl in
# DIR (created). Idempotent: does nothing when DIR/done exists.
#   ca.pem/ca.key            the test CA
#   server.pem/server.key    CN=localhost, SAN DNS:localhost IP:127.0.0.1 (by the CA)
#   server2.pem/server2.key  the same names, another key and serial (reload tests)
#   expired-server.pem/.key  a server certificate that expired in 2020
#   alice, bob, carol        client certificates by the CA (CN = the name)
#   nocn.pem/.key            a client certificate by the CA without a CN
#   expired.pem/.key         a client certificate by the CA, expired (CN=alice)
#   other-ca.pem, mallory    another CA, and a client certificate it signed (CN=alice)
# Usage: scripts/tls-test-certs.sh DIR
set -euo pipefail
dir=${1:?usage: tls-test-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
[ -e done ] && exit 0

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
csr() { openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null; }

# CA database for `openssl ca` (needed for back-dated certificates)
ca_db() { # name
	mkdir -p "$1.db/new"
	: >"$1.db/index.txt"
	echo 1000 >"$1.db/serial"
	cat >"$1.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $PWD/$1.db/index.txt
new_certs_dir = $PWD/$1.db/new
serial = $PWD/$1.db/serial
default_md = sha256
policy = p
unique_subject = no
copy_extensions = copy
[p]
commonName = optional
[srv]
subjectAltName = DNS:localhost,IP:127.0.0.1
extendedKeyUsage = serverAuth
[cli]
extendedKeyUsage = clientAuth
CNF
}
mkca() { # name cn
	key "$1.key"
	openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3650 -out "$1.pem" 2>/dev/null
	ca_db "$1"
}
sign() { # ca name subject ext [startdate enddate]
	key "$2.key"
	csr "$2" "$3"
	local dates=(-days 825)
	[ $# -ge 6 ] && dates=(-startdate "$5" -enddate "$6")
	openssl ca -batch -notext -config "$1.cnf" -cert "$1.pem" -keyfile "$1.key" \
		-extensions "$4" "${dates[@]}" -in "$2.csr" -out "$2.pem" 2>/dev/null
	rm -f "$2.csr"
}

mkca ca "csocks test CA"
mkca other-ca "another CA"
sign ca server /CN=localhost srv
sign ca server2 /CN=localhost srv
sign ca expired-server /CN=localhost srv 20200101000000Z 20200201000000Z
for u in alice bob carol; do sign ca "$u" "/CN=$u" cli; done
sign ca nocn "/O=no common name" cli
sign ca expired /CN=alice cli 20200101000000Z 20200201000000Z
sign other-ca mallory /CN=alice cli
chmod 600 ./*.key
touch done
