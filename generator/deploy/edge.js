// CloudFront Function (runtime cloudfront-js-2.0, viewer request), the site's front door. Two checks,
// each on when configured, both failing closed:
// - ALLOWED: only viewers whose IP lies in one of these IPv4/IPv6 networks get in (a plain 403 otherwise);
// - SIGN_IN "cognito": every request needs the session cookie that /_auth/callback sets after a Cognito
//   sign-in, signed (HMAC-SHA256) with a session key, for this site's AUDIENCE and not expired; without
//   one, a page request is sent to /_auth/login, anything else gets 401.
// The stack fills ALLOWED, SIGN_IN and AUDIENCE in from its parameters, which accept only CIDRs and a fixed word.
// The session keys are not in this code: they are read from the KeyValueStore associated with the function
// (generator/deploy/sessionkeys.py writes it); no keys there, or none readable, lets nobody in.
import crypto from "crypto";
import cf from "cloudfront";

var ALLOWED = "${SubnetsOnly}";
var SIGN_IN = "${SignIn}";
var AUDIENCE = "bedrock-usage-site:${AWS::StackName}";
var COOKIE = "__Host-bedrock-usage-session";

function parseIPv4(text) {
  var parts = text.split(".");
  if (parts.length !== 4) return null;
  var bytes = [];
  for (var i = 0; i < 4; i++) {
    if (!/^[0-9]{1,3}$/.test(parts[i])) return null;
    var n = Number(parts[i]);
    if (n > 255) return null;
    bytes.push(n);
  }
  return bytes;
}

function parseIPv6(text) {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  var v4 = null;
  if (text.indexOf(".") !== -1) { // a trailing dotted IPv4 part, as in ::ffff:10.1.2.3
    var colon = text.lastIndexOf(":");
    v4 = parseIPv4(text.slice(colon + 1));
    if (!v4) return null;
    text = text.slice(0, colon + 1) + "0:0"; // two stand-in groups, replaced by the IPv4 bytes
  }
  var halves = text.split("::");
  if (halves.length > 2) return null;
  var head = halves[0] ? halves[0].split(":") : [];
  var tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  var fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  var words = head.slice();
  for (var z = 0; halves.length === 2 && z < fill; z++) words.push("0");
  words = words.concat(tail);
  var bytes = [];
  for (var i = 0; i < words.length; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(words[i])) return null;
    var value = parseInt(words[i], 16);
    bytes.push(value >> 8, value & 255);
  }
  return v4 ? bytes.slice(0, 12).concat(v4) : bytes;
}

function parseAddress(text) {
  if (typeof text !== "string" || !text) return null;
  return text.indexOf(":") !== -1 ? parseIPv6(text) : parseIPv4(text);
}

function parseNetwork(text) {
  var parts = text.split("/");
  if (parts.length !== 2 || !/^[0-9]{1,3}$/.test(parts[1])) return null;
  var bytes = parseAddress(parts[0]);
  var bits = Number(parts[1]);
  if (!bytes || bits > bytes.length * 8) return null;
  return { bytes: bytes, bits: bits };
}

function inside(network, address) {
  if (address.length === 16 && network.bytes.length === 4) {
    var mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255];
    for (var m = 0; m < 12; m++) if (address[m] !== mapped[m]) return false;
    address = address.slice(12); // an IPv4-mapped IPv6 viewer
  }
  if (address.length !== network.bytes.length) return false;
  var bits = network.bits;
  for (var i = 0; bits > 0; i++, bits -= 8) {
    var mask = bits >= 8 ? 255 : (255 << (8 - bits)) & 255;
    if ((address[i] & mask) !== (network.bytes[i] & mask)) return false;
  }
  return true;
}

var NETWORKS = ALLOWED.split(",").map(function (s) { return s.trim(); }).filter(Boolean)
  .map(parseNetwork).filter(Boolean);

function sameText(a, b) {
  if (a.length !== b.length) return false;
  var diff = 0;
  for (var i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

// The keys a session may be signed with now: {"current": KEY, "previous": KEY or "", "previous_until": epoch}.
async function sessionKeys(now) {
  var stored;
  try {
    stored = await cf.kvs().get("session-keys", { format: "json" });
  } catch (e) {
    return []; // no store, no entry, or not JSON
  }
  var keys = [];
  var pattern = /^[0-9A-Za-z]{64}$/;
  if (stored && pattern.test(stored.current)) keys.push(stored.current);
  if (keys.length && pattern.test(stored.previous) && now < Number(stored.previous_until)) keys.push(stored.previous);
  return keys;
}

// A session cookie is "v1|<expiry, epoch seconds>|<audience>|<user>" + "." + hex HMAC-SHA256 of that text.
function sessionValid(request, keys, now) {
  var cookie = request && request.cookies ? request.cookies[COOKIE] : null;
  var value = cookie && typeof cookie.value === "string" ? cookie.value : "";
  if (!value || value.length > 1024) return false;
  var dot = value.lastIndexOf(".");
  if (dot < 1) return false;
  var token = value.slice(0, dot);
  var signed = false;
  for (var k = 0; k < keys.length; k++) {
    if (sameText(value.slice(dot + 1), crypto.createHmac("sha256", keys[k]).update(token).digest("hex"))) signed = true;
  }
  if (!signed) return false;
  var parts = token.split("|");
  if (parts.length !== 4 || parts[0] !== "v1" || parts[2] !== AUDIENCE) return false;
  var expires = Number(parts[1]);
  return /^[0-9]{1,12}$/.test(parts[1]) && expires > now;
}

function plain(status, description, text) {
  return {
    statusCode: status,
    statusDescription: description,
    headers: {
      "content-type": { value: "text/plain; charset=utf-8" },
      "cache-control": { value: "no-store" }
    },
    body: { encoding: "text", data: text }
  };
}

function signInFirst(request) {
  var uri = request.uri || "/";
  if (!/(^|\/)[^.\/]*$|\.html$/.test(uri)) return plain(401, "Unauthorized", "401: sign in first.\n");
  var response = plain(302, "Found", "Sign in first.\n");
  response.headers.location = { value: "/_auth/login?next=" + encodeURIComponent(uri) };
  return response;
}

// CloudFront normalises dot segments when it picks the origin path, so /_auth/../data/x would reach data/x:
// a path with a dot segment (plain or %2e), an empty segment, or an encoded slash or backslash is refused.
function oddPath(uri) {
  return typeof uri !== "string" || uri.charAt(0) !== "/" || uri.indexOf("//") >= 0 || uri.indexOf("\\") >= 0 ||
    /(^|\/)(\.|%2e){1,2}(\/|$)/i.test(uri) || /%2e|%2f|%5c|%00/i.test(uri);
}

var AUTH_PATHS = ["/_auth/login", "/_auth/callback", "/_auth/logout"];

async function handler(event) {
  var request = event && event.request ? event.request : {};
  if (oddPath(request.uri)) return plain(400, "Bad Request", "400: not a path of this site.\n");
  if (ALLOWED) { // an allow-list that parses to no network lets nobody in
    var address = parseAddress(event && event.viewer ? event.viewer.ip : "");
    var allowed = false;
    for (var i = 0; address && i < NETWORKS.length; i++) {
      if (inside(NETWORKS[i], address)) allowed = true;
    }
    if (!allowed) return plain(403, "Forbidden", "403 Forbidden: this site is open only to allowed networks.\n");
  }
  if (SIGN_IN === "none") return ALLOWED ? request : plain(403, "Forbidden", "403 Forbidden: no viewer is allowed.\n");
  if (SIGN_IN !== "cognito") return plain(403, "Forbidden", "403 Forbidden: the site's sign-in is misconfigured.\n");
  if (AUTH_PATHS.indexOf(request.uri) >= 0) return request; // signing in needs no session: these three, exactly
  var now = Date.now() / 1000;
  if (sessionValid(request, await sessionKeys(now), now)) return request;
  return signInFirst(request);
}
