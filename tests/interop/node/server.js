// gRPC's interop TestService (grpc/grpc doc/interop-test-descriptions.md, "Server") on
// @grpc/grpc-js, written from the descriptions. Usage: node server.js. Prints "PORT <n>" once
// it listens on 127.0.0.1, then "started <Method>" and "ended <Method>" for the calls the
// cancellation cases watch. UnimplementedCall is left out: grpc-js answers it UNIMPLEMENTED.
// Mutual TLS from the SB_TLS_* variables (interop.js).
'use strict';

const {
  grpc, testing, payload, serverCredentials, ECHO_INITIAL, ECHO_TRAILING,
} = require('./interop');

function echoedHeaders(call) {
  const md = new grpc.Metadata();
  for (const value of call.metadata.get(ECHO_INITIAL)) md.add(ECHO_INITIAL, value);
  return md;
}

function echoedTrailers(call) {
  const md = new grpc.Metadata();
  for (const value of call.metadata.get(ECHO_TRAILING)) md.add(ECHO_TRAILING, value);
  return md;
}

// The status a request asks for, as a grpc-js error; null for none (or OK).
function askedStatus(request, call) {
  const status = request.response_status;
  if (!status || !status.code) return null;
  return { code: status.code, details: status.message, metadata: echoedTrailers(call) };
}

function watch(method, call) {
  console.log(`started ${method}`);
  let ended = false;
  const end = () => {
    if (!ended) { ended = true; console.log(`ended ${method}`); }
  };
  call.on('cancelled', end);
  call.on('finish', end);
  call.on('close', end);
  return end;
}

function sleep(us) {
  return new Promise((resolve) => setTimeout(resolve, us / 1000));
}

async function writeReplies(call, request) {
  for (const parameters of request.response_parameters) {
    if (parameters.interval_us) await sleep(parameters.interval_us);
    call.write({ payload: payload(parameters.size) });
  }
}

const service = {
  EmptyCall(call, callback) {
    callback(null, {});
  },

  UnaryCall(call, callback) {
    const request = call.request;
    if (call.metadata.get(ECHO_INITIAL).length) call.sendMetadata(echoedHeaders(call));
    const failure = askedStatus(request, call);
    if (failure) {
      callback(failure);
      return;
    }
    callback(null, { payload: payload(request.response_size) }, echoedTrailers(call));
  },

  StreamingInputCall(call, callback) {
    const end = watch('StreamingInputCall', call);
    let size = 0;
    call.on('data', (request) => { size += request.payload ? request.payload.body.length : 0; });
    call.on('end', () => {
      callback(null, { aggregated_payload_size: size });
      end();
    });
  },

  async StreamingOutputCall(call) {
    const failure = askedStatus(call.request, call);
    if (failure) {
      call.emit('error', failure);
      return;
    }
    await writeReplies(call, call.request);
    call.end();
  },

  FullDuplexCall(call) {
    const end = watch('FullDuplexCall', call);
    if (call.metadata.get(ECHO_INITIAL).length) call.sendMetadata(echoedHeaders(call));
    let pending = Promise.resolve();
    let failed = false;
    call.on('data', (request) => {
      pending = pending.then(async () => {
        if (failed) return;
        const failure = askedStatus(request, call);
        if (failure) {
          failed = true;
          call.emit('error', failure);
          end();
          return;
        }
        await writeReplies(call, request);
      });
    });
    call.on('end', () => {
      pending.then(() => {
        if (!failed) {
          call.end(echoedTrailers(call));
          end();
        }
      });
    });
  },
};

const server = new grpc.Server();
server.addService(testing.TestService.service, service);
server.bindAsync('127.0.0.1:0', serverCredentials(), (error, port) => {
  if (error) {
    console.error(`cannot listen: ${error.message}`);
    process.exit(1);
  }
  console.log(`PORT ${port}`);
});
process.stdin.on('end', () => server.tryShutdown(() => process.exit(0)));
process.stdin.resume();
