#!/usr/bin/env bash
# Generates the local control plane's certificates and keys into one directory: a test CA, the
# kube-apiserver serving certificate (localhost, 127.0.0.1), client certificates for the admin
# (system:masters) and kube-controller-manager, and the service-account signing key pair.
# All private keys are PKCS#8 because rustls does not read every legacy key format.
set -euo pipefail

dir="${1:?usage: pki.sh <output directory>}"
mkdir -p "$dir"
chmod 700 "$dir"
days=3650

# A minimal config so openssl's system defaults cannot add or duplicate extensions.
config="$dir/openssl.cnf"
cat >"$config" <<'EOF'
[req]
distinguished_name = subject
[subject]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost,IP:127.0.0.1
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

ec_key() {
  # genpkey writes PKCS#8 ("BEGIN PRIVATE KEY").
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 600 "$1"
}

# sign NAME SUBJECT SECTION: a key and a certificate signed by the test CA.
sign() {
  local name="$1" subject="$2" section="$3"
  ec_key "$dir/$name.key"
  openssl req -new -config "$config" -key "$dir/$name.key" -subj "$subject" -out "$dir/$name.csr"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
    -extfile "$config" -extensions "$section" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr"
}

ec_key "$dir/ca.key"
openssl req -x509 -new -config "$config" -extensions ca -key "$dir/ca.key" \
  -subj "/CN=ontap-ipsec-operator-test-ca" -days "$days" -sha256 -out "$dir/ca.crt"

sign kube-apiserver "/CN=kube-apiserver" server
sign admin "/O=system:masters/CN=admin" client
# The bootstrap RBAC policy binds user system:kube-controller-manager to its role.
sign kube-controller-manager "/CN=system:kube-controller-manager" client

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/service-account.key" 2>/dev/null
chmod 600 "$dir/service-account.key"
openssl pkey -in "$dir/service-account.key" -pubout -out "$dir/service-account.pub"
