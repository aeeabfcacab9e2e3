// node --test tests/js: the CloudFront Function that enforces SUBNETS_ONLY at the edge.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

const source = readFileSync(new URL("../../generator/deploy/subnets_only.js", import.meta.url), "utf8");

function load(cidrs) {
  const context = {};
  vm.runInNewContext(source.replace("__ALLOWED_CIDRS__", cidrs), context);
  return context.handler;
}

const handler = load("10.0.0.0/8, 192.168.1.0/24,2001:db8::/32, 203.0.113.7/32, ::1/128");
const request = { uri: "/index.html", headers: {} };
const visit = (ip) => handler({ viewer: { ip }, request });

test("allowed IPv4 viewers pass", () => {
  for (const ip of ["10.0.0.1", "10.255.255.255", "192.168.1.200", "203.0.113.7"]) {
    assert.equal(visit(ip), request, ip);
  }
});

test("other IPv4 viewers get a plain 403", () => {
  for (const ip of ["11.0.0.1", "192.168.2.1", "203.0.113.8", "9.255.255.255"]) {
    const response = visit(ip);
    assert.equal(response.statusCode, 403, ip);
    assert.equal(response.headers["content-type"].value, "text/plain; charset=utf-8");
    assert.match(response.body.data, /403 Forbidden/);
  }
});

test("IPv6 viewers, compressed and full forms", () => {
  assert.equal(visit("2001:db8::1"), request);
  assert.equal(visit("2001:0db8:ffff:0:0:0:0:1"), request);
  assert.equal(visit("::1"), request);
  assert.equal(visit("2001:db9::1").statusCode, 403);
  assert.equal(visit("fe80::1").statusCode, 403);
});

test("IPv4-mapped IPv6 viewers are matched against IPv4 networks", () => {
  assert.equal(visit("::ffff:10.1.2.3"), request);
  assert.equal(visit("::ffff:11.1.2.3").statusCode, 403);
});

test("malformed viewer addresses are denied", () => {
  for (const ip of ["", "10.0.0", "10.0.0.256", "10.0.0.1.5", "2001:db8:::1", "2001:db8::g", "1:2:3:4:5:6:7:8:9",
                    "abc", undefined, null, "10.0.0.01a"]) {
    assert.equal(visit(ip).statusCode, 403, String(ip));
  }
  assert.equal(handler({ request }).statusCode, 403);
});

test("malformed allow-list entries are ignored, not widened", () => {
  const strict = load("10.0.0.0/33, nonsense, 300.1.1.1/8, 192.168.0.0/16");
  assert.equal(strict({ viewer: { ip: "192.168.5.5" }, request }), request);
  assert.equal(strict({ viewer: { ip: "10.0.0.1" }, request }).statusCode, 403);
  assert.equal(load("")({ viewer: { ip: "10.0.0.1" }, request }).statusCode, 403);
});

test("prefix lengths that are not byte-aligned", () => {
  const odd = load("172.16.0.0/12, 2001:db8:8000::/33");
  assert.equal(odd({ viewer: { ip: "172.31.255.255" }, request }), request);
  assert.equal(odd({ viewer: { ip: "172.32.0.0" }, request }).statusCode, 403);
  assert.equal(odd({ viewer: { ip: "2001:db8:8000::1" }, request }), request);
  assert.equal(odd({ viewer: { ip: "2001:db8:7fff::1" }, request }).statusCode, 403);
});
