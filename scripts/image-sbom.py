#!/usr/bin/env python3
"""image-sbom.py BINARY ROOTFS OUTPUT: the CycloneDX 1.5 (JSON) SBOM of the operator image.

Components:
- every crate compiled into BINARY, read from the dependency list that `cargo auditable` embeds in
  the binary's `.dep-v0` ELF section (so it is the binary's own account, not a guess from
  Cargo.lock), with each crate's licence from `cargo metadata` where it can say;
- every Debian package the image's files come from (ROOTFS/var/lib/dpkg/status.d, written by
  scripts/image-rootfs.sh).

The metadata component is the image itself. Timestamp from SOURCE_DATE_EPOCH and a serial number
derived from the content, so the same binary and root filesystem give the same file.

Environment: IMAGE_NAME, IMAGE_VERSION (default: the root crate's version), SOURCE_DATE_EPOCH,
CARGO_AUDITABLE_VERSION (recorded as the tool).
"""

import datetime
import hashlib
import json
import os
import struct
import subprocess
import sys
import uuid
import zlib


def fail(message):
    print(f"image-sbom.py: {message}", file=sys.stderr)
    sys.exit(1)


def elf_section(path, wanted):
    """The bytes of section `wanted` of a little-endian ELF64 file, or None."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        fail(f"{path} is not a little-endian 64-bit ELF file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(index):
        base = shoff + index * shentsize
        name, _type, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", data, base)
        return name, offset, size

    _, strtab_offset, strtab_size = header(shstrndx)
    strtab = data[strtab_offset : strtab_offset + strtab_size]
    for index in range(shnum):
        name, offset, size = header(index)
        end = strtab.index(b"\0", name)
        if strtab[name:end].decode() == wanted:
            return data[offset : offset + size]
    return None


def cargo_licenses():
    """{(name, version): licence expression} from `cargo metadata`; empty if it cannot run."""
    try:
        host = subprocess.run(
            ["rustc", "-vV"], check=True, capture_output=True, text=True
        ).stdout.split("host: ", 1)[1].split()[0]
        # This platform's packages only: the others' manifests need not be downloaded.
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", host],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, IndexError, subprocess.CalledProcessError) as error:
        print(f"image-sbom.py: no licences from cargo metadata: {error}", file=sys.stderr)
        return {}
    return {
        (p["name"], p["version"]): p["license"]
        for p in json.loads(out)["packages"]
        if p.get("license")
    }


def deb_packages(rootfs):
    """[{field: value}] of the dpkg stanzas in ROOTFS/var/lib/dpkg/status.d."""
    directory = os.path.join(rootfs, "var/lib/dpkg/status.d")
    packages = []
    for name in sorted(os.listdir(directory)):
        fields = {}
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            for line in f:
                if line[:1] not in (" ", "\t") and ":" in line:
                    key, value = line.split(":", 1)
                    fields[key] = value.strip()
        packages.append(fields)
    return packages


def main():
    if len(sys.argv) != 4:
        fail("usage: image-sbom.py BINARY ROOTFS OUTPUT")
    binary, rootfs, output = sys.argv[1:]

    section = elf_section(binary, ".dep-v0")
    if section is None:
        fail(f"{binary} has no .dep-v0 section: build it with `cargo auditable build`")
    audit = json.loads(zlib.decompress(section))
    crates = audit["packages"]
    roots = [c for c in crates if c.get("root")]
    if len(roots) != 1:
        fail(f"expected one root package in the audit data, found {len(roots)}")
    root = roots[0]

    name = os.environ.get("IMAGE_NAME", root["name"])
    version = os.environ.get("IMAGE_VERSION", root["version"])
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    licenses = cargo_licenses()

    def crate_ref(crate):
        return f"pkg:cargo/{crate['name']}@{crate['version']}"

    components = []
    for crate in crates:
        component = {
            "type": "application" if crate is root else "library",
            "bom-ref": crate_ref(crate),
            "name": crate["name"],
            "version": crate["version"],
            "purl": crate_ref(crate),
        }
        if crate.get("source", "crates.io") != "crates.io":
            component["purl"] += f"?source={crate['source']}"
        licence = licenses.get((crate["name"], crate["version"]))
        if licence:
            component["licenses"] = [{"expression": licence}]
        if crate.get("kind") == "build":
            # Build scripts and proc macros: they shaped the binary but are not linked into it.
            component["properties"] = [{"name": "cargo:dependency_kind", "value": "build"}]
        components.append(component)

    dependencies = [
        {
            "ref": crate_ref(crate),
            "dependsOn": sorted({crate_ref(crates[i]) for i in crate.get("dependencies", [])}),
        }
        for crate in crates
    ]

    for package in deb_packages(rootfs):
        arch = package.get("Architecture", "all")
        purl = f"pkg:deb/debian/{package['Package']}@{package['Version']}?arch={arch}"
        component = {
            "type": "library",
            "bom-ref": purl,
            "name": package["Package"],
            "version": package["Version"],
            "purl": purl,
        }
        copyright_file = os.path.join(rootfs, "usr/share/doc", package["Package"], "copyright")
        if os.path.exists(copyright_file):
            component["properties"] = [
                {"name": "debian:copyright", "value": f"/usr/share/doc/{package['Package']}/copyright"}
            ]
        components.append(component)

    image_ref = f"pkg:oci/{name}@{version}"
    dependencies.append(
        {
            "ref": image_ref,
            "dependsOn": sorted(
                [crate_ref(root)] + [c["bom-ref"] for c in components if c["bom-ref"].startswith("pkg:deb/")]
            ),
        }
    )

    content = json.dumps([components, dependencies], sort_keys=True).encode()
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.UUID(hashlib.sha256(content).hexdigest()[:32])}",
        "version": 1,
        "metadata": {
            "timestamp": datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "tools": {
                "components": [
                    {
                        "type": "application",
                        "name": "cargo-auditable",
                        "version": os.environ.get("CARGO_AUDITABLE_VERSION", "unknown"),
                    },
                    {"type": "application", "name": "scripts/image-sbom.py"},
                ]
            },
            "component": {
                "type": "container",
                "bom-ref": image_ref,
                "name": name,
                "version": version,
            },
        },
        "components": components,
        "dependencies": dependencies,
    }
    with open(output + ".tmp", "w", encoding="utf-8") as f:
        json.dump(bom, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(output + ".tmp", output)
    runtime = sum(1 for c in crates if c.get("kind") != "build")
    print(
        f"SBOM: {len(crates)} crates ({runtime} linked, {len(crates) - runtime} build-time) and "
        f"{len(components) - len(crates)} Debian packages -> {output}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
