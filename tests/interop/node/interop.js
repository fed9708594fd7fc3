// Shared by client.js and server.js: the interop TestService (tests/interop/protos) loaded with
// @grpc/proto-loader, bytes as Buffers, enums and defaults as the interop cases expect.
'use strict';

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

module.exports = { grpc, testing, payload, ECHO_INITIAL, ECHO_TRAILING };
