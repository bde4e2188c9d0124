// A promise and the function that resolves it: for holding a race's window
// open in a test (a wrapped store call waits on one, the test opens it).
export interface Latch {
  promise: Promise<void>;
  open: () => void;
}

export function latch(): Latch {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}
