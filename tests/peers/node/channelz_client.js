// Reads a Channelz service with @grpc/grpc-js and stubs that
// @grpc/proto-loader builds from this repository's channelz.proto, and
// prints what it saw as one JSON document, for the toolkit's Rust tests to
// assert on. It is the Node counterpart of ../python/channelz_client.py and
// prints the same document.
//
// It walks every paged RPC to its end (GetTopChannels, GetServers,
// GetServerSockets), fetches every entity found with the single-entity RPCs
// (GetChannel, GetSubchannel, GetServer, GetSocket with and without
// summary), and, with --unknown-id, records the status code each
// single-entity RPC returns for an id that does not exist.
//
// Messages are rendered as proto3 JSON with the proto field names (int64 as
// strings, zero values left out, Timestamp as RFC 3339, wrappers as their
// value), like the Python and Go readers: proto-loader gives plain objects
// but keeps the well-known types as messages, so `toProto3Json` maps them
// using the field types from the loaded descriptors.
//
// Usage: node channelz_client.js [--page-size N] [--walk-only]
//        [--unknown-id ID] HOST:PORT
// Exit codes: 0 ok, 1 bad arguments, 2 an RPC failed unexpectedly or the
// paging was inconsistent (one line on stderr).
//
// Modules come from target/peers/node/node_modules (NODE_PATH), installed by
// ../setup.sh from package-lock.json.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.join(__dirname, '../../../proto/proto');
const TIMEOUT_MS = 10000;
// Stops a server that never says end=true.
const MAX_PAGES = 100000;
const PKG = 'grpc.channelz.v1';

function fail(code, message) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const args = { pageSize: 0, walkOnly: false, unknownId: null, target: null };
  // Kept as decimal strings: proto-loader takes int64 fields as strings.
  const integer = (flag, value, what, pattern) => {
    if (value === undefined || !pattern.test(value)) {
      fail(1, `${flag} wants ${what}, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
    }
    return value;
  };
  for (let i = 0; i < argv.length; i += 1) {
    switch (argv[i]) {
      case '--page-size': args.pageSize = integer('--page-size', argv[i + 1], 'a non-negative integer', /^[0-9]{1,18}$/); i += 1; break;
      case '--walk-only': args.walkOnly = true; break;
      case '--unknown-id':
        args.unknownId = integer('--unknown-id', argv[i + 1], 'an integer id', /^-?[0-9]{1,18}$/);
        i += 1;
        break;
      default:
        if (argv[i].startsWith('--') || args.target !== null) fail(1, `unexpected argument ${argv[i]}`);
        args.target = argv[i];
    }
  }
  if (args.target === null) fail(1, 'expected the HOST:PORT of the Channelz service');
  return args;
}

// Options for proto3 JSON: proto field names, int64 and enums as strings,
// bytes as base64, unset fields left out, no virtual oneof fields.
function loadChannelzProto() {
  try {
    return protoLoader.loadSync('grpc/channelz/v1/channelz.proto', {
      includeDirs: [PROTO_ROOT],
      keepCase: true,
      longs: String,
      enums: String,
      bytes: String,
      defaults: false,
      oneofs: false,
    });
  } catch (error) {
    return fail(2, `cannot load channelz.proto from ${PROTO_ROOT}: ${error.message}`);
  }
}
const definition = loadChannelzProto();

// Every message type by full name, nested ones included: proto-loader's
// definition lists only the top-level ones.
const MESSAGE_TYPES = new Map();
function indexTypes(fullName, type) {
  MESSAGE_TYPES.set(fullName, type);
  for (const nested of type.nestedType || []) indexTypes(`${fullName}.${nested.name}`, nested);
}
for (const [name, entry] of Object.entries(definition)) {
  if (entry.format === 'Protocol Buffer 3 DescriptorProto') indexTypes(name, entry.type);
}

function messageType(fullName) {
  const type = MESSAGE_TYPES.get(fullName);
  if (type === undefined) throw new Error(`no message type ${fullName} in channelz.proto`);
  return type;
}

// A field's type name is relative to the message that declares it (nested
// types come as `TcpIpAddress`); look it up scope by scope, like protoc.
function resolve(scope, typeName) {
  const name = typeName.replace(/^\./, '');
  for (let s = scope; s !== ''; s = s.includes('.') ? s.slice(0, s.lastIndexOf('.')) : '') {
    if (MESSAGE_TYPES.has(`${s}.${name}`)) return `${s}.${name}`;
  }
  return name;
}

function rfc3339(ts) {
  const seconds = BigInt(ts.seconds || '0');
  const nanos = ts.nanos || 0;
  const iso = new Date(Number(seconds) * 1000).toISOString().replace('.000Z', '');
  if (nanos === 0) return `${iso}Z`;
  // Like protobuf's own JSON: 3, 6 or 9 fraction digits.
  let fraction = String(nanos).padStart(9, '0');
  while (fraction.endsWith('000')) fraction = fraction.slice(0, -3);
  return `${iso}.${fraction}Z`;
}

function duration(d) {
  const nanos = d.nanos || 0;
  const seconds = d.seconds || '0';
  if (nanos === 0) return `${seconds}s`;
  let fraction = String(Math.abs(nanos)).padStart(9, '0');
  while (fraction.endsWith('000')) fraction = fraction.slice(0, -3);
  const sign = nanos < 0 && seconds === '0' ? '-' : '';
  return `${sign}${seconds}.${fraction}s`;
}

// Maps a proto-loader object of message type `typeName` to proto3 JSON.
function toProto3Json(typeName, value) {
  switch (typeName) {
    case 'google.protobuf.Timestamp': return rfc3339(value);
    case 'google.protobuf.Duration': return duration(value);
    case 'google.protobuf.Any':
      // The payload's type is not known here; keep it as bytes.
      return { '@type': value.type_url || '', value: value.value || '' };
    default:
      if (/^google\.protobuf\.[A-Za-z0-9]+Value$/.test(typeName)) {
        const zero = { 'google.protobuf.BoolValue': false, 'google.protobuf.DoubleValue': 0, 'google.protobuf.FloatValue': 0,
          'google.protobuf.Int32Value': 0, 'google.protobuf.UInt32Value': 0 };
        return value.value !== undefined ? value.value : (typeName in zero ? zero[typeName] : (typeName.includes('64') ? '0' : ''));
      }
  }
  const fields = new Map(messageType(typeName).field.map((f) => [f.name, f]));
  const out = {};
  for (const [name, fieldValue] of Object.entries(value)) {
    const field = fields.get(name);
    if (field === undefined || field.type !== 'TYPE_MESSAGE') {
      out[name] = fieldValue;
    } else {
      const fieldType = resolve(typeName, field.typeName);
      out[name] = Array.isArray(fieldValue)
        ? fieldValue.map((item) => toProto3Json(fieldType, item))
        : toProto3Json(fieldType, fieldValue);
    }
  }
  return out;
}

const Channelz = grpc.loadPackageDefinition(definition).grpc.channelz.v1.Channelz;

class RpcError extends Error {
  constructor(rpc, error) {
    super(`channelz rpc failed: ${rpc}: ${grpc.status[error.code] || error.code}: ${error.details}`);
    this.code = error.code;
  }
}

class PagingError extends Error {}

function call(stub, rpc, request) {
  return new Promise((resolve, reject) => {
    stub[rpc](request, { deadline: Date.now() + TIMEOUT_MS }, (error, response) => {
      if (error) reject(new RpcError(rpc, error)); else resolve(response);
    });
  });
}

// Pages through one paged RPC; returns the pages as id lists + end flags.
async function walk(stub, rpc, request, startField, items, idOf, pageSize) {
  const pages = [];
  let start = '0';
  for (;;) {
    const response = await call(stub, rpc, { ...request, [startField]: start, max_results: pageSize });
    const ids = (response[items] || []).map((item) => Number(idOf(item)));
    const end = response.end === true;
    pages.push({ ids, end });
    if (end) return pages;
    if (ids.length === 0) {
      // A page that is empty yet not the end would loop forever.
      throw new PagingError(`${rpc}: empty page without end=true at start id ${start}`);
    }
    start = String(BigInt(idOf(response[items][ids.length - 1])) + 1n);
    if (pages.length > MAX_PAGES) throw new PagingError(`${rpc}: more than ${MAX_PAGES} pages`);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const stub = new Channelz(args.target, grpc.credentials.createInsecure());
  const out = {};
  const json = (type, message) => toProto3Json(`${PKG}.${type}`, message);

  out.top_channel_pages = await walk(stub, 'GetTopChannels', {}, 'start_channel_id', 'channel',
    (c) => c.ref.channel_id, args.pageSize);
  out.server_pages = await walk(stub, 'GetServers', {}, 'start_server_id', 'server',
    (s) => s.ref.server_id, args.pageSize);

  if (!args.walkOnly) {
    const channelIds = out.top_channel_pages.flatMap((p) => p.ids);
    const serverIds = out.server_pages.flatMap((p) => p.ids);
    Object.assign(out, {
      channels: [], subchannels: [], servers: [], server_sockets: {}, sockets: {}, socket_summaries: {},
    });
    const socketIds = [];
    for (const id of channelIds) {
      const { channel } = await call(stub, 'GetChannel', { channel_id: String(id) });
      out.channels.push(json('Channel', channel));
      for (const sref of channel.subchannel_ref || []) {
        const { subchannel } = await call(stub, 'GetSubchannel', { subchannel_id: sref.subchannel_id });
        out.subchannels.push(json('Subchannel', subchannel));
        socketIds.push(...(subchannel.socket_ref || []).map((s) => s.socket_id));
      }
    }
    for (const id of serverIds) {
      const { server } = await call(stub, 'GetServer', { server_id: String(id) });
      out.servers.push(json('Server', server));
      socketIds.push(...(server.listen_socket || []).map((s) => s.socket_id));
      const pages = await walk(stub, 'GetServerSockets', { server_id: String(id) }, 'start_socket_id',
        'socket_ref', (s) => s.socket_id, args.pageSize);
      out.server_sockets[String(id)] = pages;
      socketIds.push(...pages.flatMap((p) => p.ids.map(String)));
    }
    for (const id of socketIds) {
      try {
        const full = await call(stub, 'GetSocket', { socket_id: id });
        const summary = await call(stub, 'GetSocket', { socket_id: id, summary: true });
        out.sockets[id] = json('Socket', full.socket);
        out.socket_summaries[id] = json('Socket', summary.socket);
      } catch (error) {
        // A connection may close between listing and fetching it.
        if (!(error instanceof RpcError) || error.code !== grpc.status.NOT_FOUND) throw error;
      }
    }
  }

  if (args.unknownId !== null) {
    const id = args.unknownId;
    const probes = {
      GetChannel: { channel_id: id },
      GetSubchannel: { subchannel_id: id },
      GetServer: { server_id: id },
      GetServerSockets: { server_id: id },
      GetSocket: { socket_id: id },
    };
    out.unknown_id = {};
    for (const [rpc, request] of Object.entries(probes)) {
      try {
        await call(stub, rpc, request);
        out.unknown_id[rpc] = 'OK';
      } catch (error) {
        if (!(error instanceof RpcError)) throw error;
        out.unknown_id[rpc] = grpc.status[error.code] || String(error.code);
      }
    }
  }
  stub.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((error) => {
  if (error instanceof RpcError) fail(2, error.message);
  if (error instanceof PagingError) fail(2, `channelz paging is inconsistent: ${error.message}`);
  fail(2, `channelz reader failed: ${error.message}`);
});
