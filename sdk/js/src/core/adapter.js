// The one small interface between the SDK and a platform. Browser, Node and WeChat adapters
// implement it (src/adapters/); the SDK's logic never touches a platform global itself.

/**
 * @typedef {object} SocketHandlers
 * @property {() => void} onOpen
 * @property {(text: string) => void} onMessage
 * @property {(code: number, reason: string) => void} onClose  called once, also after errors
 */

/**
 * @typedef {object} SocketHandle
 * @property {(text: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 */

/**
 * @typedef {object} HttpRequest
 * @property {string} method
 * @property {string} url  absolute, or relative to the page in a browser
 * @property {Record<string, string>} headers
 * @property {string | Uint8Array} [body]
 */

/**
 * @typedef {object} HttpResponse
 * @property {number} status
 * @property {Record<string, string>} headers  names in lower case
 * @property {string} text
 */

/**
 * An HTTP response whose body is kept as bytes (a success) or text (an error envelope).
 * @typedef {object} BytesResponse
 * @property {number} status
 * @property {Record<string, string>} headers  names in lower case
 * @property {Uint8Array} bytes
 */

/**
 * A multipart upload of one file in the part named `file`.
 * @typedef {object} UploadRequest
 * @property {string} url
 * @property {Record<string, string>} headers
 * @property {any} file  the platform's file: a Blob/File, {path} or {name, data}, a temp file path
 * @property {(fraction: number) => void} [onProgress]
 */

/**
 * Reading a platform file in pieces, for resumable (tus) uploads.
 * @typedef {object} FileAccess
 * @property {(file: any) => Promise<number>} size
 * @property {(file: any) => string} name
 * @property {(file: any, start: number, end: number) => Promise<Uint8Array>} slice
 */

/**
 * @typedef {object} Adapter
 * @property {string} platform  "web", "node" or "wx": prefix of generated device ids
 * @property {(url: string, handlers: SocketHandlers) => SocketHandle} openSocket
 * @property {(request: HttpRequest) => Promise<HttpResponse>} request  rejects on network failure
 * @property {(request: UploadRequest) => Promise<HttpResponse>} upload
 * @property {(request: HttpRequest) => Promise<BytesResponse>} [requestBytes]  a binary answer (data export)
 * @property {import("./storage.js").KeyValueStorage} storage
 * @property {(fn: (online: boolean) => void) => () => void} onNetwork
 * @property {(fn: () => void) => () => void} onForeground  the app or page came back to view
 * @property {() => boolean} isOnline  false only when the platform knows it is offline
 * @property {FileAccess} [files]  present when tus uploads are possible (needs PATCH)
 * @property {(name: string, fn: () => Promise<any>) => Promise<any>} [lock]  cross-tab mutex
 * @property {(key: string, fn: () => void) => () => void} [onStorageChange]  another tab wrote key
 */

export {};
