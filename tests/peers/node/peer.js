// A real @grpc/grpc-js server for the toolkit's integration tests.
//
// It serves grpc.health.v1 (Check, Watch and List; statuses per service,
// changeable while running), written here from the repository's own
// health.proto because grpc-js ships no health service, and grpc-js's
// built-in grpc.channelz.v1. It keeps a little traffic going through client
// channels to itself so that Channelz shows channels, subchannels and
// sockets with non-zero call counts.
//
// Protocol (shared by the Python, Node and Go peers):
//   * first stdout line: `PORT <n>` (or `UNIX <path>` with --unix);
//   * stdin commands, one per line, each answered by one stdout line:
//     `set SERVICE STATUS` -> `ok` (`""` names the empty service; STATUS is
//     UNKNOWN, SERVING, NOT_SERVING or SERVICE_UNKNOWN), anything else ->
//     `error: ...`;
//   * the peer exits as soon as stdin closes, so it can never outlive the test.
//
// Modules come from target/peers/node/node_modules (NODE_PATH), installed by
// ../setup.sh from package-lock.json.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const HEALTH_PROTO = path.join(__dirname, '../../../proto/proto/grpc/health/v1/health.proto');
const STATUSES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];
const CHANNELZ_ON = { 'grpc.enable_channelz': 1 };

function fail(message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { channels: 0, tlsCert: null, tlsKey: null, unix: null };
  for (let i = 0; i < argv.length; i += 1) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--channels':
        args.channels = Number.parseInt(value, 10);
        if (!Number.isInteger(args.channels) || args.channels < 0) {
          fail(`--channels wants a non-negative integer, got ${value}`);
        }
        break;
      case '--tls-cert': args.tlsCert = value; break;
      case '--tls-key': args.tlsKey = value; break;
      case '--unix': args.unix = value; break;
      default: fail(`unknown argument ${argv[i]}`);
    }
    i += 1;
  }
  if ((args.tlsCert === null) !== (args.tlsKey === null)) {
    fail('--tls-cert and --tls-key go together');
  }
  return args;
}

// The health service: one status per service name, and the open Watch
// streams per service so that a change reaches them at once.
class Health {
  constructor() {
    this.statuses = new Map([['', 'SERVING']]);
    this.watchers = new Map();
  }

  set(service, status) {
    this.statuses.set(service, status);
    for (const call of this.watchers.get(service) || []) {
      call.write({ status });
    }
  }

  handlers() {
    return {
      Check: (call, callback) => {
        const status = this.statuses.get(call.request.service);
        if (status === undefined) {
          callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        } else {
          callback(null, { status });
        }
      },
      List: (_call, callback) => {
        const statuses = {};
        for (const [service, status] of this.statuses) {
          statuses[service] = { status };
        }
        callback(null, { statuses });
      },
      Watch: (call) => {
        const { service } = call.request;
        if (!this.watchers.has(service)) {
          this.watchers.set(service, new Set());
        }
        this.watchers.get(service).add(call);
        call.on('cancelled', () => this.watchers.get(service).delete(call));
        call.write({ status: this.statuses.get(service) || 'SERVICE_UNKNOWN' });
      },
    };
  }
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const definition = protoLoader.loadSync(HEALTH_PROTO, {
    enums: String,
    keepCase: true,
    // Without defaults an empty service name arrives as undefined.
    defaults: true,
  });
  const healthPackage = grpc.loadPackageDefinition(definition).grpc.health.v1;

  const server = new grpc.Server(CHANNELZ_ON);
  const health = new Health();
  server.addService(healthPackage.Health.service, health.handlers());
  // Registers grpc-js's built-in Channelz service.
  grpc.addAdminServicesToServer(server);

  let serverCredentials = grpc.ServerCredentials.createInsecure();
  let clientCredentials = grpc.credentials.createInsecure();
  const clientOptions = {
    ...CHANNELZ_ON,
    // A local subchannel pool keeps grpc-js from sharing one subchannel
    // between the channels, so every channel shows its own subchannel.
    'grpc.use_local_subchannel_pool': 1,
  };
  if (args.tlsCert !== null) {
    let cert;
    let key;
    try {
      cert = fs.readFileSync(args.tlsCert);
      key = fs.readFileSync(args.tlsKey);
    } catch (error) {
      fail(`cannot read --tls-cert/--tls-key: ${error.message}`);
    }
    serverCredentials = grpc.ServerCredentials.createSsl(
      null, [{ cert_chain: cert, private_key: key }], false);
    clientCredentials = grpc.credentials.createSsl(cert);
    clientOptions['grpc.ssl_target_name_override'] = 'localhost';
  }

  const address = args.unix !== null ? `unix:${args.unix}` : '127.0.0.1:0';
  server.bindAsync(address, serverCredentials, (error, port) => {
    if (error) {
      fail(`cannot listen on ${address}: ${error.message}`);
    }
    const target = args.unix !== null ? address : `127.0.0.1:${port}`;
    const clients = [];
    for (let i = 0; i <= args.channels; i += 1) {
      clients.push(new healthPackage.Health(target, clientCredentials, clientOptions));
    }
    // Failures are the point for the unknown service.
    const call = (client, service) => new Promise((resolve) => {
      client.Check({ service }, { deadline: Date.now() + 2000 }, () => resolve());
    });
    const first = clients[0];
    Promise.all(clients.map((client) => call(client, '')))
      .then(() => call(first, ''))
      .then(() => call(first, ''))
      .then(() => call(first, 'no.such.Service'))
      .then(() => {
        // Periodic calls keep last_call_started_timestamp moving and the
        // sockets alive for the dashboard tests; unref so they never keep
        // the process alive.
        setInterval(() => call(first, ''), 1000).unref();
        process.stdout.write(args.unix !== null ? `UNIX ${args.unix}\n` : `PORT ${port}\n`);
        serveCommands(health);
      });
  });
}

function serveCommands(health) {
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const words = line.trim().split(/\s+/).filter((word) => word.length > 0);
    if (words.length === 0) {
      return;
    }
    if (words.length === 3 && words[0] === 'set' && STATUSES.includes(words[2])) {
      health.set(words[1] === '""' ? '' : words[1], words[2]);
      process.stdout.write('ok\n');
    } else {
      process.stdout.write(`error: expected \`set SERVICE STATUS\`, got ${JSON.stringify(line.trim())}\n`);
    }
  });
  // Exit at once: stdin closed means the test is gone.
  lines.on('close', () => process.exit(0));
}

main();
