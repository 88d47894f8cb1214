// A real @grpc/grpc-js-xds client with CSDS, for the toolkit's CSDS tests:
// the second xDS implementation beside the grpcio one (../python/xds_peer.py).
//
// It is fed by the same management server: this script runs
// `python xds_peer.py --management` as a child (the ADS server and the
// health backend its endpoints point at), points grpc-js-xds at it with
// GRPC_XDS_BOOTSTRAP_CONFIG, opens `xds:///svc` and `xds:///gone` with a
// call through each, and serves grpc-js's admin services (Channelz and the
// CSDS that grpc-js-xds registers) on a port of its own.
//
//   node xds_peer.js --python VENV_PYTHON --management-script XDS_PEER_PY
//
// Protocol (the same as the grpcio xDS peer's, so a test can run both):
//   * first stdout line: `PORT <n>`, the admin (CSDS + Channelz) port;
//   * stdin commands, one per line, each answered by one stdout line:
//     `nack`, `restore`, `change`, `delete` go to the management server (see
//     xds_peer.py); `pending` opens `xds:///pending`, a name the server never
//     answers (REQUESTED, DOES_NOT_EXIST after grpc-js's 15 s timer);
//   * the peer (and its management child) exits as soon as stdin closes.
//
// What differs from grpcio is the library's, not this script's: grpc-js-xds
// keeps one XdsClient for every channel and reports it as one ClientConfig
// with an empty client_scope (gRFC A71's per-target scopes are C-core's).
'use strict';

const path = require('path');
const readline = require('readline');
const { spawn } = require('child_process');
const grpc = require('@grpc/grpc-js');
const grpcXds = require('@grpc/grpc-js-xds');
const protoLoader = require('@grpc/proto-loader');

const HEALTH_PROTO = path.join(__dirname, '../../../proto/proto/grpc/health/v1/health.proto');
const CHANNELZ_ON = { 'grpc.enable_channelz': 1 };
// How long the management child may take to print its port (a cold Python).
const START_MS = 50000;

function fail(message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { python: null, script: null };
  for (let i = 0; i < argv.length; i += 2) {
    switch (argv[i]) {
      case '--python': args.python = argv[i + 1]; break;
      case '--management-script': args.script = argv[i + 1]; break;
      default: fail(`unknown argument ${argv[i]}`);
    }
  }
  if (!args.python || !args.script) {
    fail('usage: xds_peer.js --python VENV_PYTHON --management-script XDS_PEER_PY');
  }
  return args;
}

// The management child: its stdout lines, answered in order, one per
// command (the tests send one command at a time and wait for its answer).
function startManagement(args) {
  // grpc-js's trace settings are not C-core's: keep them from the child.
  const env = { ...process.env };
  delete env.GRPC_TRACE;
  delete env.GRPC_VERBOSITY;
  const child = spawn(args.python, [args.script, '--management'], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env,
  });
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  let onPort = null;
  lines.on('line', (line) => {
    if (onPort) {
      const resolve = onPort;
      onPort = null;
      resolve(line);
    } else if (waiting.length > 0) {
      waiting.shift()(line);
    }
  });
  child.on('exit', (code) => {
    fail(`the management server exited (${code})`);
  });
  const port = new Promise((resolve, reject) => {
    onPort = resolve;
    setTimeout(() => reject(new Error(`no ADS port within ${START_MS} ms`)), START_MS).unref();
  });
  const command = (line) => new Promise((resolve) => {
    waiting.push(resolve);
    child.stdin.write(`${line}\n`);
  });
  return { child, port, command };
}

function healthClient(target) {
  const definition = protoLoader.loadSync(HEALTH_PROTO, {
    keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
  });
  const { Health } = grpc.loadPackageDefinition(definition).grpc.health.v1;
  return new Health(target, grpc.credentials.createInsecure(), CHANNELZ_ON);
}

function check(client, target) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 30000);
    client.Check({ service: '' }, new grpc.Metadata({ waitForReady: true }), { deadline }, (err) => {
      if (err) {
        reject(new Error(`no call through ${target}: ${err.message}`));
      } else {
        resolve();
      }
    });
  });
}

function bindAdmin() {
  const server = new grpc.Server(CHANNELZ_ON);
  grpc.addAdminServicesToServer(server);
  return new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) {
        reject(err);
      } else {
        resolve({ server, port });
      }
    });
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const management = startManagement(args);
  const first = await management.port;
  const match = /^ADS (\d+)$/.exec(first.trim());
  if (!match) {
    fail(`unexpected first line from the management server: ${JSON.stringify(first).slice(0, 80)}`);
  }
  // grpc-js-xds reads the bootstrap when the first xds: channel resolves.
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{
      server_uri: `127.0.0.1:${match[1]}`,
      channel_creds: [{ type: 'insecure' }],
      server_features: ['xds_v3'],
    }],
    // grpc-js's bootstrap check wants a locality in the node (C-core does not).
    node: { id: 'toolkit-xds-peer-node', cluster: 'toolkit-tests', locality: {} },
  });
  grpcXds.register();

  const channels = {};
  for (const target of ['svc', 'gone']) {
    channels[target] = healthClient(`xds:///${target}`);
    await check(channels[target], `xds:///${target}`);
  }
  const { port } = await bindAdmin();
  process.stdout.write(`PORT ${port}\n`);

  const input = readline.createInterface({ input: process.stdin });
  // One command at a time, in order, so answers match their commands.
  let queue = Promise.resolve();
  input.on('line', (line) => {
    queue = queue.then(async () => {
      const words = line.trim().split(/\s+/).filter((w) => w.length > 0);
      if (words.length === 0) {
        return;
      }
      let answer;
      if (words.length === 1 && ['nack', 'restore', 'change', 'delete'].includes(words[0])) {
        answer = await management.command(words[0]);
      } else if (words.length === 1 && words[0] === 'pending') {
        // Asking for the state with tryToConnect starts the resolver, which
        // subscribes to the listener.
        channels.pending = healthClient('xds:///pending');
        channels.pending.getChannel().getConnectivityState(true);
        answer = 'ok';
      } else {
        answer = `error: expected nack, restore, change, delete or pending, got ${JSON.stringify(line.trim()).slice(0, 80)}`;
      }
      process.stdout.write(`${answer}\n`);
    });
  });
  input.on('close', () => {
    management.child.removeAllListeners('exit');
    management.child.kill();
    process.exit(0);
  });
}

main().catch((err) => fail(err.message));
