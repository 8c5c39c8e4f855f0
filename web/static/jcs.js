// RFC 8785 JSON Canonicalization Scheme. JCS is defined in terms of ECMAScript's own JSON
// serialisation: strings and numbers as JSON.stringify writes them, object members sorted by
// their names' UTF-16 code units (what Array.prototype.sort compares), no whitespace.
// Checked against the W3C vc-di-eddsa vectors and Python's rfc8785 in tests/e2e/test_member_pages.py.

export function canonicalize(value) {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("JCS: numbers must be finite");
    return JSON.stringify(value);
  }
  if (typeof value === "string") {
    if (/\p{Cs}/u.test(value.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""))) {
      throw new TypeError("JCS: lone surrogate in a string");
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[" + value.map(canonicalize).join(",") + "]";
  if (typeof value === "object") {
    const names = Object.keys(value).sort();
    return "{" + names.map((n) => canonicalize(n) + ":" + canonicalize(value[n])).join(",") + "}";
  }
  throw new TypeError(`JCS: ${typeof value} is not JSON`);
}

export function canonicalBytes(value) {
  return new TextEncoder().encode(canonicalize(value));
}
