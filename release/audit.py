#!/usr/bin/env python3
"""The crate list `cargo auditable` embeds in a binary, read back and written
as a CycloneDX 1.5 SBOM.

`cargo auditable` stores zlib-compressed JSON (the `auditable-serde` format:
`packages`, each with `name`, `version`, `source`, optional `kind`, `root`
and `dependencies` as indexes) in a `.dep-v0` section of an ELF or PE file.
Reading the SBOM from that section, rather than from `cargo metadata`,
means the SBOM lists exactly what trivy, grype, syft and `cargo audit bin`
will find in the shipped binary, and decoding it here is the release's check
that the audit data is present and well-formed.

Usage:
  audit.py packages BINARY          one "name version" line per crate
  audit.py sbom BINARY NAME VERSION write the CycloneDX JSON to stdout
"""

import hashlib
import json
import struct
import sys
import uuid
import zlib

SECTION = b".dep-v0"
# A real crate list is a few KB compressed; anything far larger is not ours.
MAX_SECTION = 4 << 20


def elf_section(data):
    if data[4] != 2:
        raise ValueError("only 64-bit ELF is read here")
    end = "<" if data[5] == 1 else ">"
    shoff, = struct.unpack_from(end + "Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)
    def header(i):
        return struct.unpack_from(end + "IIQQQQ", data, shoff + i * shentsize)
    names = header(shstrndx)
    for i in range(shnum):
        name, _, _, _, offset, size = header(i)
        start = names[4] + name
        if data[start:start + len(SECTION) + 1] == SECTION + b"\0":
            return data[offset:offset + size]
    return None


def pe_section(data):
    pe, = struct.unpack_from("<I", data, 0x3C)
    if data[pe:pe + 4] != b"PE\0\0":
        raise ValueError("not a PE file")
    count, = struct.unpack_from("<H", data, pe + 6)
    optional, = struct.unpack_from("<H", data, pe + 20)
    table = pe + 24 + optional
    for i in range(count):
        entry = table + 40 * i
        name = data[entry:entry + 8].rstrip(b"\0")
        virtual_size, _, raw_size, raw_offset = struct.unpack_from("<IIII", data, entry + 8)
        if name == SECTION:
            return data[raw_offset:raw_offset + min(virtual_size or raw_size, raw_size)]
    return None


def audit_data(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"\x7fELF":
        section = elf_section(data)
    elif data[:2] == b"MZ":
        section = pe_section(data)
    else:
        raise ValueError(f"{path}: neither ELF nor PE")
    if section is None:
        raise ValueError(f"{path}: no {SECTION.decode()} section (not built with cargo auditable)")
    if len(section) > MAX_SECTION:
        raise ValueError(f"{path}: {SECTION.decode()} section is {len(section)} bytes")
    decoder = zlib.decompressobj()
    text = decoder.decompress(section, 16 * MAX_SECTION)
    doc = json.loads(text)
    packages = doc.get("packages")
    if not isinstance(packages, list) or not packages:
        raise ValueError(f"{path}: audit data has no package list")
    return packages, data


def purl(package):
    if package.get("source") == "crates.io":
        return f"pkg:cargo/{package['name']}@{package['version']}"
    return None


def sbom(path, name, version):
    packages, data = audit_data(path)
    refs = [f"{p['name']}@{p['version']}" for p in packages]
    components = []
    for package, ref in zip(packages, refs):
        if package.get("root"):
            continue
        component = {
            "type": "library",
            "bom-ref": ref,
            "name": package["name"],
            "version": package["version"],
            "scope": "excluded" if package.get("kind") == "build" else "required",
        }
        if purl(package):
            component["purl"] = purl(package)
        components.append(component)
    root = next((r for p, r in zip(packages, refs) if p.get("root")), f"{name}@{version}")
    dependencies = [
        {"ref": ref, "dependsOn": [refs[i] for i in p.get("dependencies", []) if 0 <= i < len(refs)]}
        for p, ref in zip(packages, refs)
    ]
    digest = hashlib.sha256(data).hexdigest()
    # A serial number derived from the binary: the same binary, the same SBOM.
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"sha256:{digest}")
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": {
            "tools": [{"name": "grpc-toolkit release/audit.py (from cargo-auditable data)"}],
            "component": {
                "type": "application",
                "bom-ref": root,
                "name": name,
                "version": version,
                "hashes": [{"alg": "SHA-256", "content": digest}],
            },
        },
        "components": components,
        "dependencies": dependencies,
    }


def main(argv):
    if len(argv) == 3 and argv[1] == "packages":
        packages, _ = audit_data(argv[2])
        for p in packages:
            print(p["name"], p["version"], p.get("kind", "runtime"))
        return 0
    if len(argv) == 5 and argv[1] == "sbom":
        json.dump(sbom(argv[2], argv[3], argv[4]), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    print(__doc__.strip().splitlines()[-3:], file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (ValueError, OSError, zlib.error, json.JSONDecodeError, struct.error, KeyError) as e:
        print(f"audit.py: {e}", file=sys.stderr)
        sys.exit(1)
