// A @grpc/grpc-js health client, with stubs that @grpc/proto-loader builds
// from this repository's health.proto, driven from stdin, for the Rust
// tests of the shipped health service. The Node counterpart of
// ../python/health_client.py, with the same protocol:
//
//   argument: the server's HOST:PORT; first stdout line: READY;
//   stdin commands, one per line ("" names the empty service):
//     check SERVICE -> "check SERVICE STATUS" or "check SERVICE error CODE";
//     list          -> "list ok N NAME=STATUS..." (sorted) or "list error CODE";
//     watch SERVICE -> starts a Watch; each message prints
//                      "watch SERVICE STATUS", its end "watch SERVICE end CODE";
//   CODE is the gRPC code name (NOT_FOUND, RESOURCE_EXHAUSTED, OK, ...);
//   the client exits as soon as stdin closes.
'use strict';

const path = require('path');
const readline = require('readline');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const HEALTH_PROTO = path.join(__dirname, '../../../proto/proto/grpc/health/v1/health.proto');
const TIMEOUT_MS = 10000;

// grpc.status maps names to numbers; the lines carry names.
const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([name, code]) => [code, name]));

const say = (line) => process.stdout.write(`${line}\n`);
const shown = (name) => (name === '' ? '""' : name);
const codeName = (error) => CODE_NAMES[error.code] || `CODE_${error.code}`;

function main() {
  const target = process.argv[2];
  if (process.argv.length !== 3) {
    process.stderr.write('usage: health_client.js HOST:PORT\n');
    process.exit(1);
  }
  const definition = protoLoader.loadSync(HEALTH_PROTO, { enums: String, keepCase: true, defaults: true });
  const { Health } = grpc.loadPackageDefinition(definition).grpc.health.v1;
  const client = new Health(target, grpc.credentials.createInsecure());
  const deadline = () => ({ deadline: Date.now() + TIMEOUT_MS });

  const commands = {
    check: (service) => client.Check({ service }, deadline(), (error, response) => {
      say(error ? `check ${shown(service)} error ${codeName(error)}` : `check ${shown(service)} ${response.status}`);
    }),
    list: () => client.List({}, deadline(), (error, response) => {
      if (error) {
        say(`list error ${codeName(error)}`);
        return;
      }
      const names = Object.keys(response.statuses).sort();
      const words = names.map((name) => `${shown(name)}=${response.statuses[name].status}`);
      say(['list', 'ok', String(names.length), ...words].join(' '));
    }),
    watch: (service) => {
      const call = client.Watch({ service });
      call.on('data', (response) => say(`watch ${shown(service)} ${response.status}`));
      call.on('error', (error) => say(`watch ${shown(service)} end ${codeName(error)}`));
      call.on('end', () => say(`watch ${shown(service)} end OK`));
    },
  };

  say('READY');
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const words = line.trim().split(/\s+/).filter((word) => word.length > 0);
    if (words.length === 0) {
      return;
    }
    const service = words.length === 2 ? (words[1] === '""' ? '' : words[1]) : null;
    if ((words[0] === 'check' || words[0] === 'watch') && service !== null) {
      commands[words[0]](service);
    } else if (words[0] === 'list' && words.length === 1) {
      commands.list();
    } else {
      say(`error: unknown command ${JSON.stringify(line.trim())}`);
    }
  });
  // Exit at once: stdin closed means the test is gone.
  lines.on('close', () => process.exit(0));
}

main();
