// An independent client of the mesh: Node.js, @grpc/grpc-js and @grpc/proto-loader.
//
// Reads one JSON object on stdin: {"protos": repository root, "token": bearer token,
// "targets": {"contacts"|"consent"|"campaigns": "host:port"},
// "reads": {"contact_id": ..., "campaign_id": ...}}.
// Loads the contracts from protos/ (no generated code), then for each service:
// its health (grpc.health.v1, the official health.proto), one read RPC with the
// token and one without, and server reflection in both protocols (the official
// v1 and v1alpha reflection.proto). Prints one JSON object on stdout for pytest to
// judge: every answer as received, every error as its status code name.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const STATUS_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));
const DEADLINE_MS = 10000;

function load(file, includeDirs) {
  return grpc.loadPackageDefinition(protoLoader.loadSync(file, { ...LOADER_OPTIONS, includeDirs }));
}

function packageFolder(name) {
  return path.dirname(require.resolve(`${name}/package.json`));
}

function unary(client, method, request, metadata) {
  return new Promise((resolve) => {
    const deadline = Date.now() + DEADLINE_MS;
    client[method](request, metadata, { deadline }, (error, reply) => {
      resolve(error ? { error: STATUS_NAMES[error.code] } : { reply });
    });
  });
}

// One request on a reflection stream, its one answer.
function reflect(client, request) {
  return new Promise((resolve) => {
    const call = client.ServerReflectionInfo({ deadline: Date.now() + DEADLINE_MS });
    let answer = null;
    call.on("data", (reply) => {
      answer = reply;
      call.end();
    });
    call.on("error", (error) => resolve({ error: STATUS_NAMES[error.code] }));
    call.on("end", () => resolve(answer ? { reply: answer } : { error: "NO_ANSWER" }));
    call.write(request);
  });
}

async function reflection(ReflectionService, target, symbol, FileDescriptorProto) {
  const client = new ReflectionService(target, grpc.credentials.createInsecure());
  try {
    const listed = await reflect(client, { list_services: "" });
    const described = await reflect(client, { file_containing_symbol: symbol });
    const result = {};
    result.services = listed.error || listed.reply.list_services_response.service.map((s) => s.name);
    if (described.error || !described.reply.file_descriptor_response) {
      result.file = described.error || described.reply.error_response;
    } else {
      const [first] = described.reply.file_descriptor_response.file_descriptor_proto;
      const file = FileDescriptorProto.deserialize(first);
      result.file = {
        package: file.package,
        services: file.service.map((s) => ({ name: s.name, methods: s.method.map((m) => m.name) })),
      };
    }
    return result;
  } finally {
    client.close();
  }
}

async function main() {
  const input = JSON.parse(fs.readFileSync(0, "utf8"));
  const root = input.protos;
  const contracts = {
    contacts: ["protos/crm/contacts/v1/contacts.proto", "crm.contacts.v1.ContactsService"],
    consent: ["protos/crm/consent/v1/consent.proto", "crm.consent.v1.ConsentService"],
    campaigns: ["protos/crm/campaigns/v1/campaigns.proto", "crm.campaigns.v1.CampaignsService"],
  };
  const reads = {
    contacts: ["GetContact", { id: input.reads.contact_id }],
    consent: ["GetHistory", { contact_id: input.reads.contact_id }],
    campaigns: ["GetCampaign", { id: input.reads.campaign_id }],
  };
  const health = load("health/v1/health.proto", [path.join(packageFolder("grpc-health-check"), "proto")]);
  const reflectionProtos = path.join(packageFolder("@grpc/reflection"), "build", "proto");
  const reflectionServices = {
    v1: load("grpc/reflection/v1/reflection.proto", [reflectionProtos]).grpc.reflection.v1.ServerReflection,
    v1alpha: load("grpc/reflection/v1alpha/reflection.proto", [reflectionProtos]).grpc.reflection.v1alpha
      .ServerReflection,
  };
  const FileDescriptorProto = protoLoader.loadSync("google/protobuf/descriptor.proto", LOADER_OPTIONS)[
    "google.protobuf.FileDescriptorProto"
  ];
  const withToken = new grpc.Metadata();
  withToken.set("authorization", `Bearer ${input.token}`);

  const output = {};
  for (const [name, [file, serviceName]] of Object.entries(contracts)) {
    const target = input.targets[name];
    const Service = serviceName.split(".").reduce((node, part) => node[part], load(file, [root]));
    const client = new Service(target, grpc.credentials.createInsecure());
    const healthClient = new health.grpc.health.v1.Health(target, grpc.credentials.createInsecure());
    const [method, request] = reads[name];
    const result = { health: {}, reflection: {} };
    for (const service of ["", serviceName]) {
      const answer = await unary(healthClient, "Check", { service }, new grpc.Metadata());
      result.health[service] = answer.error || answer.reply.status;
    }
    result.read = await unary(client, method, request, withToken);
    result.read_without_token = await unary(client, method, request, new grpc.Metadata());
    for (const [protocol, ReflectionService] of Object.entries(reflectionServices)) {
      result.reflection[protocol] = await reflection(ReflectionService, target, serviceName, FileDescriptorProto);
    }
    client.close();
    healthClient.close();
    output[name] = result;
  }
  process.stdout.write(JSON.stringify(output) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
