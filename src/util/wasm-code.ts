// Just enough of the WebAssembly binary format to assemble a module with
// one exported function over 32-bit integers and one exported page of
// memory, from code written out by a TypeScript program (see
// sha1-chain.ts, the one user). Writing the instructions from a loop lets
// a hot routine be unrolled without a toolchain or a binary blob in the
// repository. Opcode numbers: the WebAssembly core specification, 5.4.

const OPCODES = {
  loop: 0x03,
  end: 0x0b,
  br_if: 0x0d,
  'local.get': 0x20,
  'local.set': 0x21,
  'local.tee': 0x22,
  'i32.load': 0x28,
  'i32.load16_u': 0x2f,
  'i32.store': 0x36,
  'i32.const': 0x41,
  'i32.add': 0x6a,
  'i32.sub': 0x6b,
  'i32.and': 0x71,
  'i32.or': 0x72,
  'i32.xor': 0x73,
  'i32.shl': 0x74,
  'i32.shr_u': 0x76,
  'i32.rotl': 0x77,
} as const;

/** The instructions that take no immediate operand. */
export type SimpleOp = 'i32.add' | 'i32.sub' | 'i32.and' | 'i32.or' | 'i32.xor' | 'i32.shl' | 'i32.shr_u' | 'i32.rotl';

const I32 = 0x7f;
const EMPTY_BLOCK = 0x40;

function unsignedLeb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function signedLeb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** The body of a function whose parameters and locals are all i32, written instruction by instruction. */
export class FunctionCode {
  private readonly code: number[] = [];

  private emit(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  op(name: SimpleOp): this {
    return this.emit(OPCODES[name]);
  }

  const(value: number): this {
    return this.emit(OPCODES['i32.const'], ...signedLeb(value));
  }

  get(local: number): this {
    return this.emit(OPCODES['local.get'], ...unsignedLeb(local));
  }

  set(local: number): this {
    return this.emit(OPCODES['local.set'], ...unsignedLeb(local));
  }

  tee(local: number): this {
    return this.emit(OPCODES['local.tee'], ...unsignedLeb(local));
  }

  // Memory instructions carry the alignment (log2 of bytes) and an offset.

  /** i32.load of the 4-byte-aligned word at the address on the stack + offset. */
  load(offset: number): this {
    return this.emit(OPCODES['i32.load'], 2, ...unsignedLeb(offset));
  }

  /** i32.load16_u of the 2-byte-aligned value at the address on the stack + offset. */
  load16u(offset: number): this {
    return this.emit(OPCODES['i32.load16_u'], 1, ...unsignedLeb(offset));
  }

  /** i32.store of the value on the stack to the address under it + offset. */
  store(offset: number): this {
    return this.emit(OPCODES['i32.store'], 2, ...unsignedLeb(offset));
  }

  /** A loop: `body` runs, then again while what `again` leaves on the stack is not zero. */
  doWhile(body: () => void, again: () => void): this {
    this.emit(OPCODES.loop, EMPTY_BLOCK);
    body();
    again();
    return this.emit(OPCODES.br_if, 0, OPCODES.end);
  }

  bytes(): number[] {
    return [...this.code, OPCODES.end];
  }
}

function section(id: number, content: number[]): number[] {
  return [id, ...unsignedLeb(content.length), ...content];
}

function name(s: string): number[] {
  const b = [...Buffer.from(s, 'utf8')];
  return [...unsignedLeb(b.length), ...b];
}

/**
 * A module exporting `fn` (i32 parameters, no result, `locals` more i32
 * locals after the parameters) and one 64 KiB page of memory as `memory`.
 */
export function moduleWith(fn: { name: string; params: number; locals: number; code: FunctionCode }, memory: string): WebAssembly.Instance {
  const funcType = [0x60, ...unsignedLeb(fn.params), ...new Array<number>(fn.params).fill(I32), 0];
  const body = [1, ...unsignedLeb(fn.locals), I32, ...fn.code.bytes()];
  const bytes = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, [1, ...funcType]), // types
    ...section(3, [1, 0]), // functions: one, of type 0
    ...section(5, [1, 0x00, 1]), // memories: one, at least 1 page
    ...section(7, [2, ...name(fn.name), 0x00, 0, ...name(memory), 0x02, 0]), // exports
    ...section(10, [1, ...unsignedLeb(body.length), ...body]), // code
  ]);
  return new WebAssembly.Instance(new WebAssembly.Module(bytes));
}
