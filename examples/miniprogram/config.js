// The Pigeon server this mini-program talks to. A published mini-program needs HTTPS and WSS on
// a domain listed in its request, socket and uploadFile allow-lists (see docs/sdk-js.md).
export const SERVER = "https://chat.example.com";
