"""Security foundations: service identities, the ``sb-certs`` CA, TLS files for gRPC, NATS permissions.

See docs/security.md. Modules: :mod:`identity` (SPIFFE IDs and DNS names), :mod:`certs` (the CA
tool), :mod:`pem` (reading and writing the files), :mod:`tls` (gRPC credentials and the peer's
identity), :mod:`nats_auth` (nats-server authorization from what services declare).
"""
