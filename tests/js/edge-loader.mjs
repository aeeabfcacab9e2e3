// Runs generator/deploy/edge.js as CloudFront does: the stack's Fn::Sub fills in its parameters, and the
// runtime's `crypto` and `cloudfront` modules are supplied, the KeyValueStore as a plain object (key -> text).
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import vm from "node:vm";

const source = readFileSync(new URL("../../generator/deploy/edge.js", import.meta.url), "utf8");
const IMPORTS = /^import (crypto|cf) from "(crypto|cloudfront)";$/gm;

export function load({ cidrs = "", signIn = "none", stack = "usage", store = null } = {}) {
  const values = { SubnetsOnly: cidrs, SignIn: signIn, "AWS::StackName": stack };
  if ((source.match(IMPORTS) || []).length !== 2) throw new Error("edge.js no longer imports crypto and cloudfront");
  const code = source.replace(/\$\{([^}]+)\}/g, (_, name) => values[name]).replace(IMPORTS, "");
  const kvs = () => {
    if (store === null) throw new Error("no key value store is associated with this function");
    return {
      async get(key, options) {
        if (!(key in store)) throw new Error(`key not found: ${key}`);
        return options && options.format === "json" ? JSON.parse(store[key]) : store[key];
      },
    };
  };
  const context = { crypto, cf: { kvs } };
  vm.runInNewContext(code, context);
  return context.handler;
}

// What sessionkeys.py writes into the store.
export function keyStore(current, previous = "", previousUntil = 0) {
  return { "session-keys": JSON.stringify({ current, previous, previous_until: previousUntil }) };
}
