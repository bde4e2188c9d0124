/** Does nothing: for promises whose failure is handled elsewhere (`p.catch(noop)`). */
export const noop = (): void => {};
