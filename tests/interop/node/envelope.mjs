// Pigeon's Protobuf wire format seen from Node, written only from the schema and
// docs/protocol.md ("Codecs"), without any Python code: protobufjs loads the .proto file
// at run time, and the two exported functions map between Envelopes and the JSON view
// of frames that the rest of the protocol documentation uses.
//
//   commandToEnvelope({t: "send", …}) → the Envelope's bytes (a Buffer)
//   envelopeToFrame(bytes)            → {t: "msg", …}, the frame as the JSON codec has it
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

/** The WebSocket subprotocol that selects this wire format. */
export const SUBPROTOCOL = "pigeon.v1.proto";

const schema = fileURLToPath(new URL("../../../proto/pigeon/v1/pigeon.proto", import.meta.url));
const root = new protobuf.Root().loadSync(schema, { keepCase: true });
const Envelope = root.lookupType("pigeon.v1.Envelope");
const Body = root.lookupType("pigeon.v1.Body");

// Server frames whose member name differs from their JSON "t".
const FRAME_T = { sync_page: "sync", typing_event: "typing" };
const COMMANDS = new Set(["auth", "send", "pull", "sync", "read", "recv", "typing", "ping"]);
// Proto field names that are not the JSON key.
const JSON_KEY = { sender: "from", from_user: "from", to_user: "to" };
const NULLABLE = new Set(["pigeon.v1.Presence.last_seen", "pigeon.v1.FriendRequest.note"]);
const TYPED = new Set(["text", "image", "file", "recall", "edit", "react", "pin", "unpin"]);
// Lists of messages the JSON view leaves out when empty (as it does scalar lists).
const OMITTED_WHEN_EMPTY = new Set(["pigeon.v1.Message.reactions"]);

// --- JSON view → Envelope (commands)

function fits(body, type) {
  const keys = Object.keys(body);
  if (!keys.every((k) => type.fields[k])) return false;
  return type.fieldsArray.every((f) => {
    if (!(f.name in body)) return Boolean(f.partOf);
    const v = body[f.name];
    if (f.type === "string") return typeof v === "string";
    if (f.type === "bool") return typeof v === "boolean";
    return Number.isInteger(v);
  });
}

function bodyToProto(kind, body) {
  if (Object.keys(body).length === 0) return {};
  if (TYPED.has(kind)) {
    const type = Body.fields[kind].resolvedType;
    if (fits(body, type)) return { [kind]: body };
  }
  return { json: Buffer.from(JSON.stringify(body)) };
}

export function commandToEnvelope(command) {
  const { t, rid, ...fields } = command;
  if (!COMMANDS.has(t)) throw new Error(`not a command: ${t}`);
  const envelope = { [t]: {} };
  if (typeof rid === "string") envelope.rid_str = rid;
  else if (typeof rid === "number") envelope.rid_int = rid;
  for (const [key, value] of Object.entries(fields)) {
    envelope[t][key] = key === "body" ? bodyToProto(fields.kind, value) : value;
  }
  const problem = Envelope.verify(envelope);
  if (problem) throw new Error(`${JSON.stringify(command)}: ${problem}`);
  return Buffer.from(Envelope.encode(envelope).finish());
}

// --- Envelope → JSON view (server frames)

function jsonObject(bytes) {
  return JSON.parse(Buffer.from(bytes).toString("utf8"));
}

function bodyToJson(body) {
  switch (body.content) {
    case undefined:
    case null:
      return {};
    case "json":
      return jsonObject(body.json);
    case "system": {
      const { event, actor, details } = body.system;
      return { event, actor, ...(details.length ? jsonObject(details) : {}) };
    }
    default:
      return messageToJson(body[body.content]);
  }
}

function scalar(field, value) {
  // 64-bit fields arrive as Long; every Pigeon value of them is below 2^53.
  return value !== null && typeof value === "object" && "low" in value ? value.toNumber() : value;
}

function messageToJson(message) {
  const type = message.$type;
  const out = {};
  for (const field of type.fieldsArray) {
    const key = JSON_KEY[field.name] ?? field.name;
    const value = message[field.name];
    const present = Object.prototype.hasOwnProperty.call(message, field.name);
    if (field.type === "Body") {
      if (present) out[key] = bodyToJson(value);
    } else if (field.repeated) {
      const omittable = !field.resolvedType || OMITTED_WHEN_EMPTY.has(`${type.fullName.slice(1)}.${field.name}`);
      if (value.length || !omittable) out[key] = value.map((v) => (field.resolvedType ? messageToJson(v) : scalar(field, v)));
    } else if (field.partOf && !present) {
      if (NULLABLE.has(`${type.fullName.slice(1)}.${field.name}`)) out[key] = null;
    } else if (field.resolvedType) {
      out[key] = messageToJson(value);
    } else {
      out[key] = scalar(field, value);
    }
  }
  return out;
}

export function envelopeToFrame(bytes) {
  const envelope = Envelope.decode(bytes);
  const member = envelope.frame;
  const frame = { t: FRAME_T[member] ?? member, ...messageToJson(envelope[member]) };
  if (envelope.rid === "rid_str") frame.rid = envelope.rid_str;
  if (envelope.rid === "rid_int") frame.rid = scalar(null, envelope.rid_int);
  return frame;
}
