#!/usr/bin/env python3
"""Builds docker-archive tarballs (docker save format) for berth's bats tests, good and bad.

  make-archive.py layered OUT BASE.tar TAG [--files N] [--big-mib M]
      BASE.tar as the first layer, then a layer of N small files under /many plus one file of
      M MiB (/big), then a layer holding /marker ("complete"): a multi-layer image whose unpack
      takes long enough to be interrupted.
  make-archive.py traversal OUT BASE.tar TAG       a layer entry named ../escaped
  make-archive.py symlink-escape OUT BASE.tar TAG  a symlink to ../../.. then a file through it
  make-archive.py digest-mismatch OUT BASE.tar TAG the config's diff id is not the layer's
  make-archive.py missing-layer OUT BASE.tar TAG   the manifest names a layer the tar lacks
  make-archive.py corrupt-blob OUT ARCHIVE.tar -   ARCHIVE (an OCI archive, as `berth save
      --format oci-archive` writes it) with one byte of its largest blob changed
"""
import hashlib
import io
import json
import sys
import tarfile


def tar_bytes(members):
    """members: [(TarInfo, bytes or None)] -> an uncompressed tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file_entry(name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 1700000000
    return info, data


def dir_entry(name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = 1700000000
    return info, None


def symlink_entry(name, target):
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    info.mtime = 1700000000
    return info, None


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def write_archive(out, layers, tag, diff_ids=None, omit=()):
    """layers: [bytes]; diff_ids overrides the config's; omit: layer indexes left out of the tar."""
    diff_ids = diff_ids or ["sha256:" + sha256(layer) for layer in layers]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z"} for _ in layers],
    }, sort_keys=True).encode()
    config_name = sha256(config) + ".json"
    layer_names = [sha256(layer) + "/layer.tar" for layer in layers]
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": layer_names}]).encode()
    members = [file_entry(config_name, config)]
    for i, (name, layer) in enumerate(zip(layer_names, layers)):
        if i in omit:
            continue
        members.append(dir_entry(name.split("/")[0]))
        members.append(file_entry(name, layer))
    members.append(file_entry("manifest.json", manifest))
    with open(out, "wb") as f:
        f.write(tar_bytes(members))


def corrupt_largest_blob(out, archive):
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    largest = max((m for m, _ in members if m.isfile() and "blobs/" in m.name), key=lambda m: m.size)
    changed = []
    for info, data in members:
        if info is largest:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        changed.append((info, data))
    with open(out, "wb") as f:
        f.write(tar_bytes(changed))


def main():
    kind, out, base_path, tag = sys.argv[1:5]
    if kind == "corrupt-blob":
        return corrupt_largest_blob(out, base_path)
    options = dict(zip(sys.argv[5::2], sys.argv[6::2]))
    with open(base_path, "rb") as f:
        base = f.read()
    if kind == "layered":
        files = int(options.get("--files", "2000"))
        big = int(options.get("--big-mib", "16"))
        many = [dir_entry("many")] + [file_entry(f"many/f{i:05}", f"{i}\n".encode()) for i in range(files)]
        many.append(file_entry("big", bytes(range(256)) * (big * 4096)))
        marker = [file_entry("marker", b"complete\n")]
        write_archive(out, [base, tar_bytes(many), tar_bytes(marker)], tag)
    elif kind == "traversal":
        evil = tar_bytes([file_entry("../escaped", b"outside\n")])
        write_archive(out, [base, evil], tag)
    elif kind == "symlink-escape":
        evil = tar_bytes([symlink_entry("up", "../../../../../../.."), dir_entry("up/tmp"),
                          file_entry("up/tmp/berth-escaped", b"outside\n")])
        write_archive(out, [base, evil], tag)
    elif kind == "digest-mismatch":
        extra = tar_bytes([file_entry("extra", b"extra\n")])
        write_archive(out, [base, extra], tag, diff_ids=["sha256:" + sha256(base), "sha256:" + "0" * 64])
    elif kind == "missing-layer":
        extra = tar_bytes([file_entry("extra", b"extra\n")])
        write_archive(out, [base, extra], tag, omit={1})
    else:
        sys.exit(f"make-archive.py: unknown kind '{kind}'")


if __name__ == "__main__":
    main()
