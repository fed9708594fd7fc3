// gRPC's interop client cases (grpc/grpc doc/interop-test-descriptions.md, "Client"), written
// from the descriptions for @grpc/grpc-js. Usage: node client.js <host:port> <case>; mutual TLS
// from the SB_TLS_* variables (interop.js).
// Exits 0 when the case passed; otherwise prints what differed and exits 1.
'use strict';

const path = require('path');
const protobuf = require('protobufjs');
const {
  grpc, testing, payload, channel, ECHO_INITIAL, ECHO_TRAILING,
} = require('./interop');

// google/rpc/status.proto and error_details.proto as Google ships them (the generator's
// real-world corpus holds them).
const GOOGLE_RPC = path.join(__dirname, '..', '..', 'generator', 'real_world');

const [address, testCase] = process.argv.slice(2);
const { credentials, options } = channel();
const client = new testing.TestService(address, credentials, options);
const REQUEST_SIZES = [27182, 8, 1828, 45904];
const RESPONSE_SIZES = [31415, 9, 2653, 58979];
const SPECIAL_MESSAGE = '\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \ud83d\ude08\t\n';

function check(condition, what) {
  if (!condition) throw new Error(what);
}

function deadline(ms) {
  return new Date(Date.now() + ms);
}

function unary(method, request, metadata = new grpc.Metadata(), options = {}) {
  return new Promise((resolve, reject) => {
    const seen = {};
    const call = client[method](request, metadata, options, (error, reply) =>
      error ? reject(error) : resolve({ reply, seen }));
    call.on('metadata', (md) => { seen.headers = md; });
    call.on('status', (status) => { seen.trailers = status.metadata; });
  });
}

// Resolves with the replies once the call ended with OK; rejects with the call's error.
function collect(call) {
  return new Promise((resolve, reject) => {
    const replies = [];
    const seen = {};
    call.on('metadata', (md) => { seen.headers = md; });
    call.on('data', (reply) => replies.push(reply));
    call.on('error', reject);
    call.on('status', (status) => {
      seen.trailers = status.metadata;
      if (status.code === grpc.status.OK) resolve({ replies, seen });
    });
  });
}

async function expectCode(promise, code, message) {
  try {
    await promise;
  } catch (error) {
    check(error.code === code, `status ${error.code} (${error.details}), expected ${code}`);
    if (message !== undefined) {
      check(error.details === message, `message ${JSON.stringify(error.details)}, expected ${JSON.stringify(message)}`);
    }
    return;
  }
  throw new Error(`the call succeeded, expected status ${code}`);
}

function echoMetadata() {
  const md = new grpc.Metadata();
  md.set(ECHO_INITIAL, 'test_initial_metadata_value');
  md.set(ECHO_TRAILING, Buffer.from([0xab, 0xab, 0xab]));
  return md;
}

function checkEchoed(seen) {
  check(seen.headers.get(ECHO_INITIAL)[0] === 'test_initial_metadata_value', 'initial metadata not echoed');
  const trailing = seen.trailers.get(ECHO_TRAILING)[0];
  check(Buffer.isBuffer(trailing) && trailing.equals(Buffer.from([0xab, 0xab, 0xab])), 'trailing metadata not echoed');
}

const cases = {
  async empty_unary() {
    const { reply } = await unary('EmptyCall', {});
    check(Object.keys(reply).length === 0, `reply ${JSON.stringify(reply)}`);
  },

  async large_unary() {
    const { reply } = await unary('UnaryCall', { response_size: 314159, payload: payload(271828) });
    check(reply.payload.body.length === 314159, `payload of ${reply.payload.body.length} bytes`);
  },

  async client_streaming() {
    const reply = await new Promise((resolve, reject) => {
      const call = client.StreamingInputCall((error, r) => (error ? reject(error) : resolve(r)));
      for (const size of REQUEST_SIZES) call.write({ payload: payload(size) });
      call.end();
    });
    check(reply.aggregated_payload_size === 74922, `aggregated ${reply.aggregated_payload_size}`);
  },

  async server_streaming() {
    const call = client.StreamingOutputCall({
      response_parameters: RESPONSE_SIZES.map((size) => ({ size })),
    });
    const { replies } = await collect(call);
    const sizes = replies.map((r) => r.payload.body.length);
    check(JSON.stringify(sizes) === JSON.stringify(RESPONSE_SIZES), `sizes ${sizes}`);
  },

  async ping_pong() {
    const call = client.FullDuplexCall();
    const ended = collect(call);
    const received = [];
    let next;
    call.on('data', (reply) => { received.push(reply); if (next) next(); });
    for (let i = 0; i < REQUEST_SIZES.length; i += 1) {
      const arrived = new Promise((resolve) => { next = resolve; });
      call.write({
        response_parameters: [{ size: RESPONSE_SIZES[i] }],
        payload: payload(REQUEST_SIZES[i]),
      });
      await arrived;
      check(received[i].payload.body.length === RESPONSE_SIZES[i], `reply ${i}: ${received[i].payload.body.length} bytes`);
    }
    call.end();
    const { replies } = await ended;
    check(replies.length === REQUEST_SIZES.length, `${replies.length} replies`);
  },

  async empty_stream() {
    const call = client.FullDuplexCall();
    call.end();
    const { replies } = await collect(call);
    check(replies.length === 0, `${replies.length} replies`);
  },

  async cancel_after_begin() {
    const done = new Promise((resolve, reject) => {
      const call = client.StreamingInputCall((error, r) => (error ? reject(error) : resolve(r)));
      setImmediate(() => call.cancel());
    });
    await expectCode(done, grpc.status.CANCELLED);
  },

  async cancel_after_first_response() {
    const call = client.FullDuplexCall();
    const done = new Promise((resolve, reject) => {
      call.on('error', reject);
      call.on('status', (status) => { if (status.code === grpc.status.OK) resolve(); });
    });
    const first = new Promise((resolve) => call.once('data', resolve));
    call.write({ response_parameters: [{ size: 31415 }], payload: payload(27182) });
    const reply = await first;
    check(reply.payload.body.length === 31415, `first reply ${reply.payload.body.length} bytes`);
    call.cancel();
    await expectCode(done, grpc.status.CANCELLED);
  },

  async timeout_on_sleeping_server() {
    const call = client.FullDuplexCall({ deadline: deadline(1) });
    call.write({ payload: payload(27182) });
    await expectCode(collect(call), grpc.status.DEADLINE_EXCEEDED);
  },

  async custom_metadata() {
    const request = { response_size: 314159, payload: payload(271828) };
    const { seen } = await unary('UnaryCall', request, echoMetadata());
    checkEchoed(seen);
    const call = client.FullDuplexCall(echoMetadata());
    call.write({ response_parameters: [{ size: 314159 }], payload: payload(271828) });
    call.end();
    const streamed = await collect(call);
    check(streamed.replies.length === 1, `${streamed.replies.length} replies`);
    checkEchoed(streamed.seen);
  },

  async status_code_and_message(message = 'test status message') {
    const status = { code: 2, message };
    await expectCode(unary('UnaryCall', { response_status: status }), grpc.status.UNKNOWN, message);
    const call = client.FullDuplexCall();
    call.write({ response_status: status });
    call.end();
    await expectCode(collect(call), grpc.status.UNKNOWN, message);
  },

  async special_status_message() {
    await cases.status_code_and_message(SPECIAL_MESSAGE);
  },

  // Not an interop case: server streams in flight while the server drains. Prints "begun"
  // once each has its first reply, then waits for a line on stdin saying the drain began.
  async drain() {
    const STREAMS = 16;
    const REPLIES = 5;
    const request = {
      response_parameters: Array.from({ length: REPLIES }, () => ({ size: 8, interval_us: 100000 })),
    };
    const firsts = [];
    const calls = [];
    for (let i = 0; i < STREAMS; i += 1) {
      const call = client.StreamingOutputCall(request);
      firsts.push(new Promise((resolve) => call.once('data', resolve)));
      calls.push(collect(call));
    }
    await Promise.all(firsts);
    console.log('begun');
    await new Promise((resolve) => process.stdin.once('data', resolve));
    // A call the draining server refuses is UNAVAILABLE, which gRPC clients may retry elsewhere.
    await expectCode(unary('EmptyCall', {}), grpc.status.UNAVAILABLE);
    const counts = (await Promise.all(calls)).map(({ replies }) => replies.length);
    check(counts.every((n) => n === REPLIES), `replies per stream: ${counts}`);
  },

  // Not an interop case: the rich error model (docs/wire.md) as another language reads it.
  // A handler's HandlerError("ECHO_STATUS", message) arrives as UNKNOWN with the message, and
  // grpc-status-details-bin holds a google.rpc.Status with an ErrorInfo saying which.
  async rich_error() {
    const message = 'card declined';
    let failure;
    try {
      await unary('UnaryCall', { response_status: { code: 2, message } });
    } catch (error) {
      failure = error;
    }
    check(failure && failure.code === grpc.status.UNKNOWN, `status ${failure && failure.code}`);
    const [raw] = failure.metadata.get('grpc-status-details-bin');
    check(Buffer.isBuffer(raw), 'no grpc-status-details-bin trailer');
    const root = new protobuf.Root();
    root.resolvePath = (origin, target) => path.join(GOOGLE_RPC, target);
    root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
    const status = root.lookupType('google.rpc.Status').decode(raw);
    check(status.code === 2 && status.message === message, `Status ${JSON.stringify(status)}`);
    check(status.details.length === 1, `${status.details.length} details`);
    const [any] = status.details;
    check(any.type_url === 'type.googleapis.com/google.rpc.ErrorInfo', `detail ${any.type_url}`);
    const info = root.lookupType('google.rpc.ErrorInfo').decode(any.value);
    check(info.domain === 'servicebridge' && info.reason === 'HANDLER', `ErrorInfo ${JSON.stringify(info)}`);
    check(info.metadata.handler_code === 'ECHO_STATUS', `handler_code ${info.metadata.handler_code}`);
  },

  async unimplemented_method() {
    await expectCode(unary('UnimplementedCall', {}), grpc.status.UNIMPLEMENTED);
  },

  async unimplemented_service() {
    const other = new testing.UnimplementedService(address, credentials, options);
    const done = new Promise((resolve, reject) => {
      other.UnimplementedCall({}, (error, r) => (error ? reject(error) : resolve(r)));
    });
    await expectCode(done, grpc.status.UNIMPLEMENTED);
    other.close();
  },
};

(async () => {
  const run = cases[testCase];
  if (run === undefined) {
    console.error(`unknown case ${testCase}: one of ${Object.keys(cases).join(', ')}`);
    process.exit(2);
  }
  try {
    await run();
  } catch (error) {
    console.error(`${testCase} failed: ${error.stack || error}`);
    process.exit(1);
  }
  client.close();
  process.exit(0);
})();
