// The first flight of a direct-TLS connection, read here before OpenSSL
// sees a byte of it. OpenSSL takes a ClientHello of up to 128 KiB, and
// allocates (and zeroes) the whole of it as soon as the message's 4-byte
// header has come: 9 bytes on the wire made the server hold 166 KiB per
// connection (measured on Node 20, OpenSSL 3.0) until the handshake
// deadline, for as many connections as the limits admit. A real
// ClientHello takes a few hundred bytes, 2 KiB with post-quantum key
// shares; what is no ClientHello at all (plain XML on the TLS port) is
// told apart at its first byte, before any TLS object exists for it.

/**
 * The largest ClientHello handshake message taken: eight times the largest
 * a current client sends, and one TLS record's worth.
 */
const MAX_CLIENT_HELLO = 16 * 1024;

/** TLS record header: type, version (2), length (2). */
const RECORD_HEADER = 5;
/** Handshake message header: type, length (3). */
const HANDSHAKE_HEADER = 4;
const CONTENT_HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
/** The largest plaintext record TLS allows (RFC 8446 5.1). */
const MAX_RECORD = 1 << 14;
/** The most read here: the largest ClientHello, split over up to 16 records. */
const MAX_FLIGHT = MAX_CLIENT_HELLO + 16 * RECORD_HEADER;

export type HelloProgress =
  /** The whole ClientHello is in `data[0, bytes)`. */
  | { done: true; bytes: number }
  /** Not yet: look again once `data` holds at least `need` bytes. */
  | { done: false; need: number }
  /** Not a ClientHello Yak takes: why, for the log. */
  | { refused: string };

/**
 * Where the first bytes of a direct-TLS connection stand: the records of
 * a handshake carrying one ClientHello of at most MAX_CLIENT_HELLO bytes,
 * possibly split over several records (TLS allows it; clients rarely do).
 */
export function clientHelloProgress(data: Buffer): HelloProgress {
  let at = 0;
  /** Handshake bytes in the complete records so far, and the message's length once its header is among them. */
  let have = 0;
  let message: number | undefined;
  const header: number[] = [];
  for (;;) {
    if (data.length < at + RECORD_HEADER) {
      // The first byte alone tells plain text (`<stream:stream`) from TLS.
      if (data.length > at && data[at] !== CONTENT_HANDSHAKE) return { refused: 'not a TLS handshake record' };
      return { done: false, need: at + RECORD_HEADER };
    }
    if (data[at] !== CONTENT_HANDSHAKE || data[at + 1] !== 0x03) return { refused: 'not a TLS handshake record' };
    const length = data.readUInt16BE(at + 3);
    if (length === 0 || length > MAX_RECORD) return { refused: `a TLS record of ${length} bytes` };
    const start = at + RECORD_HEADER;
    if (start + length > MAX_FLIGHT) return { refused: 'a ClientHello spread over too many records' };
    // The message's own header, as soon as its record has it (the length is checked before the rest comes).
    for (let i = start; header.length < HANDSHAKE_HEADER && i < Math.min(data.length, start + length); i++) header.push(data[i]!);
    if (message === undefined && header.length === HANDSHAKE_HEADER) {
      if (header[0] !== CLIENT_HELLO) return { refused: 'a TLS handshake that does not start with a ClientHello' };
      message = HANDSHAKE_HEADER + ((header[1]! << 16) | (header[2]! << 8) | header[3]!);
      if (message > MAX_CLIENT_HELLO) return { refused: `a ClientHello of ${message} bytes (at most ${MAX_CLIENT_HELLO} taken)` };
    }
    if (data.length < start + length) return { done: false, need: start + length };
    have += length;
    at = start + length;
    if (message !== undefined && have >= message) return { done: true, bytes: at };
  }
}
