#!/bin/sh
# make-certs.sh: throwaway certificates for the TLS tests, made at test time
# with the openssl command-line tool (Debian's openssl package).  Nothing it
# makes is committed.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage: make-certs.sh DIR
#
# DIR must exist and should be empty.  Every key is an EC P-256 key (fast
# to make); every certificate is PEM.  Made in DIR:
#
#   ca.pem                the test CA (trust it with g_tls_file_database_new)
#   server.pem/.key       from the test CA, for 127.0.0.1 and localhost (and
#                         example.test, mail.example.test: SRV discovery)
#   self-signed.pem/.key  self-signed, for 127.0.0.1 and localhost
#   unknown-ca.pem/.key   from another CA (other-ca.pem, not trusted), for
#                         127.0.0.1 and localhost
#   wrong-host.pem/.key   from the test CA, for wrong.example.org only
#   localhost-only.pem/.key  from the test CA, for the name localhost only
#   ip-only.pem/.key      from the test CA, for the address 127.0.0.1 only
#   expired.pem/.key      from the test CA, for 127.0.0.1 and localhost,
#                         valid in January 2020 only
#   client.pem/.key       a client certificate (CN=smtpclient test client)
#                         from the test CA
#   client-other.pem/.key a client certificate from the other CA
#
# The test CA's own validity starts in 2019, so that the expired
# certificate is wrong in one way only (its dates), not also for having
# been made before its issuer.  "openssl ca" sets past dates
# (-startdate/-enddate); "openssl req -x509" and "openssl x509" of OpenSSL
# 3.0 cannot.
#
# Exit status: 0 when everything was made; otherwise non-zero, with
# openssl's messages on standard error.

set -eu

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: make-certs.sh DIR (an existing directory)" >&2
    exit 2
fi

cd "$1"
umask 077

OPENSSL=${OPENSSL:-openssl}
FAR_FUTURE=491231235959Z     # 2049: well past any test run
# openssl must never read the user's or the system's configuration
OPENSSL_CONF=/dev/null
export OPENSSL_CONF

new_key () {
    "$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$1" 2>/dev/null
}

# The configuration of one CA for "openssl ca": $1 = its directory name.
write_ca_config () {
    mkdir -p "$1/new"
    : > "$1/index.txt"
    echo 01 > "$1/serial"
    cat > "$1/ca.cnf" <<EOF
[ ca ]
default_ca = test_ca

[ test_ca ]
dir = $1
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
certificate = $1.pem
private_key = $1.key
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none

[ policy_any ]
commonName = supplied

[ ca_cert ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ server_cert ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:example.test, DNS:mail.example.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ localhost_cert ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ ip_cert ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ wrong_host_cert ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example.org
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ client_cert ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused
EOF
}

# A CA: $1 = name, $2 = common name.  Self-signed by "openssl ca -selfsign"
# so that its dates can start in the past.
make_ca () {
    write_ca_config "$1"
    new_key "$1.key"
    "$OPENSSL" req -new -key "$1.key" -subj "/CN=$2" \
        -config "$1/ca.cnf" -out "$1.csr"
    "$OPENSSL" ca -batch -notext -selfsign -config "$1/ca.cnf" \
        -keyfile "$1.key" -extensions ca_cert \
        -startdate 190101000000Z -enddate "$FAR_FUTURE" \
        -in "$1.csr" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr"
}

# A certificate from a CA: $1 = CA name, $2 = file base name,
# $3 = common name, $4 = extension section, $5 = start, $6 = end.
issue () {
    new_key "$2.key"
    "$OPENSSL" req -new -key "$2.key" -subj "/CN=$3" \
        -config "$1/ca.cnf" -out "$2.csr"
    "$OPENSSL" ca -batch -notext -config "$1/ca.cnf" -extensions "$4" \
        -startdate "$5" -enddate "$6" -in "$2.csr" -out "$2.pem" 2>/dev/null
    rm -f "$2.csr"
}

make_ca ca "smtpclient test CA"
make_ca other-ca "smtpclient unknown CA"

issue ca server "127.0.0.1" server_cert 190101000000Z "$FAR_FUTURE"
issue ca wrong-host "wrong.example.org" wrong_host_cert \
    190101000000Z "$FAR_FUTURE"
issue ca localhost-only "localhost" localhost_cert \
    190101000000Z "$FAR_FUTURE"
issue ca ip-only "127.0.0.1" ip_cert 190101000000Z "$FAR_FUTURE"
issue ca expired "127.0.0.1" server_cert 200101000000Z 200131235959Z
issue ca client "smtpclient test client" client_cert \
    190101000000Z "$FAR_FUTURE"
issue other-ca unknown-ca "127.0.0.1" server_cert \
    190101000000Z "$FAR_FUTURE"
issue other-ca client-other "smtpclient other client" client_cert \
    190101000000Z "$FAR_FUTURE"

# Self-signed: its own issuer, never a CA.
new_key self-signed.key
"$OPENSSL" req -x509 -new -key self-signed.key -subj "/CN=127.0.0.1" \
    -config ca/ca.cnf -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -addext "extendedKeyUsage=serverAuth" \
    -out self-signed.pem

rm -rf ca other-ca
# Readable by the test servers whatever user they run as.
chmod 644 ./*.pem ./*.key
