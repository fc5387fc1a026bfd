// One tab of bench/browser/multitab.mjs: hosts Anax in a dedicated worker (as the B1/B2 engine
// "anax-opfs" runs) and relays the runner's commands to it as window.cmd(op, args).
const worker = new Worker(new URL("./multitab-worker.mjs", import.meta.url), { type: "module" });
let next = 1;
const waiting = new Map();
worker.onmessage = ({ data }) => {
  const w = waiting.get(data.id);
  waiting.delete(data.id);
  if (data.ok) w.resolve(data.result);
  else w.reject(new Error(data.error));
};
window.cmd = (op, args = {}) =>
  new Promise((resolve, reject) => {
    const id = next++;
    waiting.set(id, { resolve, reject });
    worker.postMessage({ id, op, args });
  });
window.ready = true;
