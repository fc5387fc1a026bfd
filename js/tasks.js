// The task scheduler of Anax's wasm glue. scripts/build-wasm.sh points wasm-bindgen-futures'
// `queueMicrotask` at `anaxQueueMicrotask`, so a trap inside one of Anax's tasks (where no
// caller's promise can see it: the task's promise just never settles) is reported here, and
// only Anax's tasks: another library's wasm trap is none of its business.

let onTrap = () => {};

/** Sets the handler called with the error of a trap inside an Anax task. */
export function setTrapHandler(handler) {
  onTrap = handler;
}

/** Whether `e` is a wasm trap (a Rust panic with panic=abort) or a wasm stack overflow. */
export function isTrap(e) {
  if (typeof WebAssembly !== "undefined" && e instanceof WebAssembly.RuntimeError) return true;
  return e instanceof RangeError && /call stack/i.test(e.message);
}

/** queueMicrotask for the glue: runs `task`, handing traps to the trap handler. */
export function anaxQueueMicrotask(task) {
  queueMicrotask(() => {
    try {
      task();
    } catch (e) {
      if (!isTrap(e)) throw e;
      onTrap(e);
    }
  });
}
