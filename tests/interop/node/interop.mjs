// An independent Protobuf client for the offline interop test: every command it is given
// becomes an Envelope, and every Envelope the Python codec encoded becomes a frame, both
// through the mapping in envelope.mjs (protobufjs and the schema, no Python code).
//
// stdin:  {"commands": [<command as JSON>, …], "frames": [<base64 Envelope>, …]}
// stdout: {"commands": [<base64 Envelope>, …], "frames": [<frame as JSON>, …]}
import { readFileSync } from "node:fs";
import { commandToEnvelope, envelopeToFrame } from "./envelope.mjs";

const request = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(
  JSON.stringify({
    commands: request.commands.map((command) => commandToEnvelope(command).toString("base64")),
    frames: request.frames.map((frame) => envelopeToFrame(Buffer.from(frame, "base64"))),
  }),
);
