// node --test tests/js: the CloudFront Function at the site's front door (the allow-list and the sign-in).
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { keyStore, load as loadEdge } from "./edge-loader.mjs";

const KEY = "0123456789abcdef".repeat(4);
const AUDIENCE = "bedrock-usage-site:usage";
const STORE = keyStore(KEY);

function load(cidrs, signIn = "none", store = STORE) {
  return loadEdge({ cidrs, signIn, store });
}

const handler = load("10.0.0.0/8, 192.168.1.0/24,2001:db8::/32, 203.0.113.7/32, ::1/128");
const request = { uri: "/index.html", headers: {} };
const visit = (ip) => handler({ viewer: { ip }, request });  // a promise, as CloudFront awaits it

test("allowed IPv4 viewers pass", async () => {
  for (const ip of ["10.0.0.1", "10.255.255.255", "192.168.1.200", "203.0.113.7"]) {
    assert.equal(await visit(ip), request, ip);
  }
});

test("other IPv4 viewers get a plain 403", async () => {
  for (const ip of ["11.0.0.1", "192.168.2.1", "203.0.113.8", "9.255.255.255"]) {
    const response = await visit(ip);
    assert.equal(response.statusCode, 403, ip);
    assert.equal(response.headers["content-type"].value, "text/plain; charset=utf-8");
    assert.match(response.body.data, /403 Forbidden/);
  }
});

test("IPv6 viewers, compressed and full forms", async () => {
  assert.equal(await visit("2001:db8::1"), request);
  assert.equal(await visit("2001:0db8:ffff:0:0:0:0:1"), request);
  assert.equal(await visit("::1"), request);
  assert.equal((await visit("2001:db9::1")).statusCode, 403);
  assert.equal((await visit("fe80::1")).statusCode, 403);
});

test("IPv4-mapped IPv6 viewers are matched against IPv4 networks", async () => {
  assert.equal(await visit("::ffff:10.1.2.3"), request);
  assert.equal((await visit("::ffff:11.1.2.3")).statusCode, 403);
});

test("malformed viewer addresses are denied", async () => {
  for (const ip of ["", "10.0.0", "10.0.0.256", "10.0.0.1.5", "2001:db8:::1", "2001:db8::g", "1:2:3:4:5:6:7:8:9",
                    "abc", undefined, null, "10.0.0.01a"]) {
    assert.equal((await visit(ip)).statusCode, 403, String(ip));
  }
  assert.equal((await handler({ request })).statusCode, 403);
});

test("malformed allow-list entries are ignored, not widened", async () => {
  const strict = load("10.0.0.0/33, nonsense, 300.1.1.1/8, 192.168.0.0/16");
  assert.equal(await strict({ viewer: { ip: "192.168.5.5" }, request }), request);
  assert.equal((await strict({ viewer: { ip: "10.0.0.1" }, request })).statusCode, 403);
  assert.equal((await load("")({ viewer: { ip: "10.0.0.1" }, request })).statusCode, 403); // no restriction: nobody
});

test("prefix lengths that are not byte-aligned", async () => {
  const odd = load("172.16.0.0/12, 2001:db8:8000::/33");
  assert.equal(await odd({ viewer: { ip: "172.31.255.255" }, request }), request);
  assert.equal((await odd({ viewer: { ip: "172.32.0.0" }, request })).statusCode, 403);
  assert.equal(await odd({ viewer: { ip: "2001:db8:8000::1" }, request }), request);
  assert.equal((await odd({ viewer: { ip: "2001:db8:7fff::1" }, request })).statusCode, 403);
});

// The session cookie /_auth/callback sets: "v1|<expiry>|<audience>|<user>" + "." + hex HMAC-SHA256 (see signin.py).
function cookie(expires, { audience = AUDIENCE, key = KEY, user = "u1" } = {}) {
  const token = `v1|${expires}|${audience}|${user}`;
  return `${token}.${crypto.createHmac("sha256", key).update(token).digest("hex")}`;
}
const now = Math.floor(Date.now() / 1000);
const page = (value, uri = "/usage-7d.html") => ({
  viewer: { ip: "198.51.100.7" },
  request: { uri, headers: {}, cookies: value === undefined ? {} : { "__Host-bedrock-usage-session": { value } } },
});

test("sign-in: a valid session cookie passes", async () => {
  const signedIn = load("", "cognito");
  const event = page(cookie(now + 3600));
  assert.equal(await signedIn(event), event.request);
});

test("sign-in: expired, wrong audience, wrong signature, none or malformed are refused", async () => {
  const signedIn = load("", "cognito");
  const refused = {
    expired: cookie(now - 1),
    "wrong audience": cookie(now + 3600, { audience: "bedrock-usage-site:other-stack" }),
    "wrong signature": cookie(now + 3600, { key: "f".repeat(64) }),
    "tampered expiry": cookie(now + 3600).replace(`|${now + 3600}|`, `|${now + 99999}|`),
    none: undefined,
    empty: "",
    "no signature": `v1|${now + 3600}|${AUDIENCE}|u1`,
    "not a number": cookie("soon"),
    "too long": cookie(now + 3600, { user: "x".repeat(2000) }),
  };
  for (const [name, value] of Object.entries(refused)) {
    const response = await signedIn(page(value));
    assert.equal(response.statusCode, 302, name);
    assert.equal(response.headers.location.value, "/_auth/login?next=%2Fusage-7d.html", name);
  }
});

test("sign-in: data files get 401, not a redirect; the sign-in path itself is open", async () => {
  const signedIn = load("", "cognito");
  assert.equal((await signedIn(page(undefined, "/data/usage-7d.json"))).statusCode, 401);
  assert.equal((await signedIn(page(undefined, "/"))).statusCode, 302);
  const login = page(undefined, "/_auth/login");
  assert.equal(await signedIn(login), login.request);
});

test("sign-in fails closed without a readable key, and combines with the allow-list", async () => {
  for (const store of [null, {}, { "session-keys": "not json" }, keyStore(""), keyStore("short"), keyStore(`${KEY}"`)]) {
    assert.equal((await load("", "cognito", store)(page(cookie(now + 3600)))).statusCode, 302, JSON.stringify(store));
  }
  const both = load("198.51.100.0/24", "cognito");
  assert.equal((await both(page(cookie(now + 3600)))).statusCode, undefined); // allowed network and signed in: passes
  const outside = page(cookie(now + 3600));
  outside.viewer.ip = "203.0.113.9";
  assert.equal((await both(outside)).statusCode, 403); // signed in, but not from an allowed network
  assert.equal((await load("", "something-else")(page(cookie(now + 3600)))).statusCode, 403);
});

test("only the three sign-in paths pass without a session, exactly", async () => {
  const signedOut = load("", "cognito");
  for (const uri of ["/_auth/login", "/_auth/callback", "/_auth/logout"]) {
    const req = { uri, headers: {} };
    assert.equal(await signedOut({ viewer: { ip: "198.51.100.1" }, request: req }), req, uri);
  }
  for (const uri of ["/_auth/", "/_auth/loginx", "/_auth/login/x", "/_auth", "/_AUTH/login"]) {
    const out = await signedOut({ viewer: { ip: "198.51.100.1" }, request: { uri, headers: {} } });
    assert.ok(out.statusCode === 302 || out.statusCode === 401, uri);
  }
});

test("dot segments, empty segments and encoded slashes are refused before anything else", async () => {
  const signedOut = load("", "cognito");
  const bad = ["/_auth/../data/manifest.json", "/_auth/%2e%2e/data/manifest.json", "/_auth/%2E%2e/x",
    "/_auth/.%2e/data/x", "/./index.html", "/data/./usage-30d.json", "//data/x", "/_auth//../x", "/data%2fmanifest.json",
    "/data%2Fx", "/data%5cx", "/a\\b", "/x%00", "/.."];
  for (const uri of bad) {
    const out = await signedOut({ viewer: { ip: "198.51.100.1" }, request: { uri, headers: {} } });
    assert.equal(out.statusCode, 400, uri);
  }
  const fine = { uri: "/person/ann-1234abcd.html", headers: {} };
  assert.equal(await load("10.0.0.0/8")({ viewer: { ip: "10.1.2.3" }, request: fine }), fine);
});

test("a rotated-out key is accepted for one session lifetime, then refused", async () => {
  const NEW = "A".repeat(64);
  const rotated = (until) => load("", "cognito", keyStore(NEW, KEY, until));
  const old = page(cookie(now + 3600));
  assert.equal(await rotated(now + 60)(old), old.request); // signed with the previous key, inside its window
  assert.equal((await rotated(now - 1)(old)).statusCode, 302); // the window has passed
  const fresh = page(cookie(now + 3600, { key: NEW }));
  assert.equal(await rotated(now - 1)(fresh), fresh.request);
  assert.equal((await load("", "cognito", keyStore(NEW))(old)).statusCode, 302); // no previous key at all
});

test("the allow-list alone needs no key value store", async () => {
  const fine = { uri: "/index.html", headers: {} };
  assert.equal(await load("10.0.0.0/8", "none", null)({ viewer: { ip: "10.1.2.3" }, request: fine }), fine);
});
