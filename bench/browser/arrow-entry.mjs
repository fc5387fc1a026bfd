// Bundled by run.mjs: apache-arrow for the pages (decoding Anax's IPC to Arrow tables).
export { tableFromIPC } from "apache-arrow";
