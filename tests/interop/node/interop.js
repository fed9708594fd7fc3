// Shared by client.js and server.js: the interop TestService (tests/interop/protos) loaded with
// @grpc/proto-loader, bytes as Buffers, enums and defaults as the interop cases expect.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const PROTOS = path.join(__dirname, '..', 'protos');
const definition = loader.loadSync('grpc/testing/test.proto', {
  includeDirs: [PROTOS],
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
});
const testing = grpc.loadPackageDefinition(definition).grpc.testing;

const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';

function payload(size) {
  return { type: 'COMPRESSABLE', body: Buffer.alloc(size) };
}

// Mutual TLS from files named by the environment (SB_TLS_CA, and SB_TLS_CERT with SB_TLS_KEY
// for our own certificate); without SB_TLS_CA, plaintext.
function tlsFiles() {
  const read = (name) => (process.env[name] ? fs.readFileSync(process.env[name]) : null);
  return { ca: read('SB_TLS_CA'), cert: read('SB_TLS_CERT'), key: read('SB_TLS_KEY') };
}

// A client's credentials and channel options: under TLS the server must hold a certificate that
// names SB_TLS_NAME (a bridge's `<service>.<trust domain>`), whatever address it was dialled at.
function channel() {
  const { ca, cert, key } = tlsFiles();
  if (!ca) return { credentials: grpc.credentials.createInsecure(), options: {} };
  const name = process.env.SB_TLS_NAME;
  return {
    credentials: grpc.credentials.createSsl(ca, key, cert),
    options: { 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name },
  };
}

// A server's credentials: under TLS it requires a client certificate from the same CA.
function serverCredentials() {
  const { ca, cert, key } = tlsFiles();
  if (!ca) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(ca, [{ private_key: key, cert_chain: cert }], true);
}

module.exports = {
  grpc, testing, payload, channel, serverCredentials, ECHO_INITIAL, ECHO_TRAILING,
};
