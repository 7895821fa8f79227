#!/usr/bin/env python3
"""Writes the golden inputs that are too large or too exact to write by hand:
too-large/, huge-records/, deep-nesting/, invalid-utf8/ (input.ndjson,
README.md, config.json). The expected outputs are not written here: they come
from `STARFORM_BLESS=1 cargo test --release -p starform-host-tests --test all
-- transform_golden::` and are reviewed by hand.

Sizes are computed with Python's compact json.dumps, which for these records
(no control characters) is byte-identical to serde_json's compact encoding.
"""
import json
import os


def compact(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def write(case, data, readme, config=None):
    os.makedirs(case, exist_ok=True)
    with open(f"{case}/input.ndjson", "wb") as f:
        f.write(data)
    with open(f"{case}/README.md", "w") as f:
        f.write(readme.strip() + "\n")
    if config is not None:
        with open(f"{case}/config.json", "w") as f:
            f.write(json.dumps(config, indent=2) + "\n")


LABELS = {"starform.io/project": "acme", "starform.io/environment": "prod", "starform.io/service": "web"}


RESERVED = ("project", "environment", "service", "log_kind", "starform_quarantine", "starform_shadowed")


def measured(r):
    """Rule 3's measure: the compact encoding without top-level reserved fields."""
    return len(compact({k: v for k, v in r.items() if k not in RESERVED}).encode())


def sized(n, **top):
    """A labelled record whose size as rule 3 measures it is exactly n bytes."""
    r = {"log": "", **top, "kubernetes": {"labels": LABELS}}
    r["log"] = "x" * (n - measured(r))
    assert measured(r) == n
    return r


def too_large():
    limit = 256
    lines = [compact(sized(limit)), compact(sized(limit + 1))]
    lines.append(json.dumps(sized(limit), separators=(" , ", " : ")))
    r = {"log": "", "kubernetes": {"labels": LABELS}}
    room = limit - len(compact(r).encode())
    r["log"] = "é" * (room // 2) + "x" * (room % 2)
    assert len(compact(r).encode()) == limit
    lines.append(json.dumps(r, ensure_ascii=True, separators=(",", ":")))
    lines.append(compact(sized(limit, project="globex")))
    lines.append(compact(sized(limit + 1, project="globex")))
    lines.append(compact({"log": "y" * 300}))
    lines.append("z" * 400)
    r = {"n": 1e2, "log": "", "kubernetes": {"labels": LABELS}}
    r["log"] = "x" * (limit - len(compact(r).encode()))
    assert len(compact(r).encode()) == limit and '"n":100.0' in compact(r)
    lines.append(compact(r).replace('"n":100.0', '"n":1e2'))
    r["log"] += "x"
    lines.append(compact(r).replace('"n":100.0', '"n":1e2'))
    write("too-large", ("\n".join(lines) + "\n").encode(), f"""
`too_large` with `max_record_bytes: {limit}` (`config.json`). Size is the
compact JSON encoding of the record as received without its top-level
reserved fields, not the input bytes:
1. exactly {limit} bytes: accepted; 2. {limit + 1}: `too_large` (key `null`),
   record kept;
3. the same {limit}-byte record padded with spaces: accepted;
4. `\\u00e9` escapes (6 input bytes each) count as `é` (2 bytes): accepted;
5. a top-level `project` does not count (a second pass must measure what
   the first did): {limit} bytes without it accepted (and `project`
   shadowed), 6. {limit + 1} `too_large` (and still shadowed);
7. an unlabelled record over the limit is `too_large` (size decides before
   labels); 8. a non-JSON line over the limit is `malformed` (rule 1 first);
9. `1e2` counts as `100.0` (5 bytes): {limit} accepted, 10. {limit + 1} not.
""", config={"max_record_bytes": limit})


def huge_records():
    mib = 1048576
    r = {"log": "", **{f"field_{i:05}": i for i in range(20000)}, "kubernetes": {"labels": LABELS}}
    r["log"] = "a" * (mib - len(compact(r).encode()))
    assert len(compact(r).encode()) == mib
    accepted = compact(r)
    r["log"] += "b"
    rejected = compact(r)
    write("huge-records", (accepted + "\n" + rejected + "\n").encode(), """
Huge records under the default configuration (`max_record_bytes` 1 MiB =
1048576): a record with 20,000 fields and a long line whose compact encoding
is exactly 1048576 bytes is accepted with its field order intact; one byte
more is `too_large` and kept whole.
""")


def deep_nesting():
    labels = '"kubernetes":{"labels":' + compact(LABELS) + "}"

    def arrays(levels):
        return "{" + labels + ',"deep":' + "[" * (levels - 1) + "]" * (levels - 1) + "}"

    def objects(levels):
        inner = "{}"
        for _ in range(levels - 2):
            inner = '{"a":' + inner + "}"
        return '{"deep":' + inner + "," + labels + "}"

    lines = [arrays(127), arrays(128), arrays(129), arrays(1000), objects(127), objects(128),
             "[" * 20000 + "]" * 20000]
    write("deep-nesting", ("\n".join(lines) + "\n").encode(), """
Nesting depth, counting the record object as level 1. 127 levels (arrays or
objects) is the deepest accepted; 128, 129 and 1000 levels are not JSON here
(`malformed`, kept as `starform_raw`): serde_json's recursion limit. The
last line, 20,000 nested arrays, checks that the engines do not overflow
their stack (the module must not trap).
""")


def invalid_utf8():
    good = compact({"log": "ok", "kubernetes": {"labels": LABELS}}).encode()
    lines = [
        good,
        b'{"log":"\xff","kubernetes":{"labels":{}}}',
        b'{"log":"caf\xc3"}',
        b'{"log":"overlong \xc0\xaf"}',
        b'{"log":"surrogate \xed\xa0\x80"}',
        b"\x80",
        b"\xfe\xff{}",
        good.replace(b'"ok"', '"ünïcödé ok"'.encode()),
        b'{"log":"nul\x00byte"}',
    ]
    write("invalid-utf8", b"\n".join(lines) + b"\n", """
Input that is not UTF-8 (a binary file: lines are raw bytes split on `\\n`):
a stray 0xFF, a truncated sequence, an overlong encoding, an encoded
surrogate, a lone continuation byte, a UTF-16 byte-order mark. Each is
`malformed` with the exact bytes kept as `starform_raw_base64` (RFC 4648,
padded). Valid records before and after (first line, valid non-ASCII) are
accepted: one bad line does not disturb its neighbours. The last line is
valid UTF-8 but has a raw NUL inside a string (JSON forbids unescaped
control characters): `malformed`, kept in `starform_raw`.
""")


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    too_large()
    huge_records()
    deep_nesting()
    invalid_utf8()
