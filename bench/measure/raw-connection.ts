import net from 'node:net';
import type { RequestSpec } from '../scenarios/types.js';

/**
 * One keep-alive HTTP/1.1 connection on a raw socket, one request at a time, for the
 * open-loop generator: node:http's client costs several times more CPU per request, CPU the
 * server under test shares on this machine. Reads Content-Length and chunked responses, which
 * is all the servers here send. The socket is opened when a request needs it, so a server
 * that closes an idle connection (or is gone) costs no reconnect loop.
 */
export type RawResponse = { status: number; body: string };
/** A response, or why there was none: the socket failed, the request timed out, or the bytes were not HTTP. */
export type RawOutcome = { response: RawResponse } | { failure: 'socket' | 'timeout' | 'protocol' };

const HEADER_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const PROTOCOL_ERROR = Symbol('protocol error');

export function serializeRequest(spec: RequestSpec, host: string): Buffer {
  const lines = [`${spec.method} ${spec.path} HTTP/1.1`, `Host: ${host}`, 'Connection: keep-alive'];
  for (const [name, value] of Object.entries(spec.headers ?? {})) {
    if (name.toLowerCase() !== 'content-length') lines.push(`${name}: ${value}`);
  }
  const body = spec.body ? Buffer.from(spec.body) : undefined;
  if (body || spec.method === 'POST') lines.push(`Content-Length: ${body?.length ?? 0}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
  return body ? Buffer.concat([head, body]) : head;
}

type Parsed = { response: RawResponse; used: number; close: boolean } | undefined | typeof PROTOCOL_ERROR;

/** Parses one complete response from the front of `buf`: the response and the bytes it used, undefined for "need more". */
export function parseResponse(buf: Buffer): Parsed {
  const headerEnd = buf.indexOf(HEADER_END);
  if (headerEnd < 0) return undefined;
  const head = buf.subarray(0, headerEnd).toString('latin1');
  const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!statusMatch) return PROTOCOL_ERROR;
  const status = Number(statusMatch[1]);
  // the server closes after this response: the next request needs a new socket
  const close = /\r\nconnection:[ \t]*close/i.test(head);
  const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  let pos = headerEnd + 4;
  if (length) {
    const end = pos + Number(length[1]);
    return buf.length < end ? undefined : { response: { status, body: buf.subarray(pos, end).toString('utf8') }, used: end, close };
  }
  // no length and not chunked: only bodiless answers (204, 304) are expected from these servers
  if (!/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) return { response: { status, body: '' }, used: pos, close };
  const chunks: Buffer[] = [];
  for (;;) {
    const lineEnd = buf.indexOf(CRLF, pos);
    if (lineEnd < 0) return undefined;
    const sizeText = buf.subarray(pos, lineEnd).toString('latin1').split(';', 1)[0]!.trim();
    if (!/^[0-9a-f]+$/i.test(sizeText)) return PROTOCOL_ERROR;
    const size = parseInt(sizeText, 16);
    const dataStart = lineEnd + 2;
    if (size === 0) {
      // the last chunk, then optional trailer lines, then an empty line
      const trailerEnd = buf.indexOf(HEADER_END, lineEnd);
      return trailerEnd < 0 ? undefined : { response: { status, body: Buffer.concat(chunks).toString('utf8') }, used: trailerEnd + 4, close };
    }
    if (buf.length < dataStart + size + 2) return undefined;
    chunks.push(buf.subarray(dataStart, dataStart + size));
    pos = dataStart + size + 2;
  }
}

export class RawConnection {
  private socket: net.Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { done(outcome: RawOutcome): void; timer: NodeJS.Timeout } | undefined;
  private closed = false;

  constructor(
    private readonly port: number,
    private readonly hostname: string,
    private readonly timeoutMs: number,
  ) {}

  get idle(): boolean {
    return !this.pending && !this.closed;
  }

  private connect(): net.Socket {
    const socket = net.connect(this.port, this.hostname);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.buffer = Buffer.alloc(0);
      this.finish({ failure: 'socket' });
    });
    return socket;
  }

  private onData(socket: net.Socket, chunk: Buffer) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const parsed = parseResponse(this.buffer);
    if (parsed === undefined) return;
    if (parsed === PROTOCOL_ERROR) return this.drop(socket, { failure: 'protocol' });
    if (parsed.close) return this.drop(socket, { response: parsed.response });
    this.buffer = this.buffer.subarray(parsed.used);
    this.finish({ response: parsed.response });
  }

  /** Gives up on the socket (its state is unknown) and reports the pending request. */
  private drop(socket: net.Socket, outcome: RawOutcome) {
    if (this.socket === socket) this.socket = undefined;
    this.buffer = Buffer.alloc(0);
    socket.destroy();
    this.finish(outcome);
  }

  private finish(outcome: RawOutcome) {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.done(outcome);
  }

  /** Sends one request; `done` is called exactly once with its outcome. */
  send(bytes: Buffer, done: (outcome: RawOutcome) => void) {
    if (this.closed) return done({ failure: 'socket' });
    if (this.pending) throw new Error('RawConnection: one request at a time');
    const socket = (this.socket ??= this.connect());
    const timer = setTimeout(() => this.drop(socket, { failure: 'timeout' }), this.timeoutMs);
    this.pending = { done, timer };
    socket.write(bytes);
  }

  close() {
    this.closed = true;
    const socket = this.socket;
    this.socket = undefined;
    if (socket) this.drop(socket, { failure: 'socket' });
  }
}
