// CloudFront Function (runtime cloudfront-js-2.0, viewer request): only viewers whose IP lies in
// one of the allowed IPv4/IPv6 networks reach the site; everyone else gets a plain 403 page.
// The old dashboard's SUBNETS_ONLY, enforced at the edge. `deploy` fills in ALLOWED.
var ALLOWED = "__ALLOWED_CIDRS__";

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

function handler(event) {
  var address = parseAddress(event && event.viewer ? event.viewer.ip : "");
  if (address) {
    for (var i = 0; i < NETWORKS.length; i++) {
      if (inside(NETWORKS[i], address)) return event.request;
    }
  }
  return {
    statusCode: 403,
    statusDescription: "Forbidden",
    headers: {
      "content-type": { value: "text/plain; charset=utf-8" },
      "cache-control": { value: "no-store" }
    },
    body: { encoding: "text", data: "403 Forbidden: this site is open only to allowed networks.\n" }
  };
}
