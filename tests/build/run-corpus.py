#!/usr/bin/env python3
"""The `berth build` conformance corpus (issue 10, "Must show").

Every tests/build/corpus/NNN-name.case is one Dockerfile with its context, the command line and
what the result must be: the image config, the history, the file tree the layers add up to
(paths, modes, owners, symlinks, deleted files) and the whiteouts in the layer tars, or, for a
bad input, the exit status and the message with its file:line:column. Cases tagged `peer` are
also built with `buildah bud` (when installed) and the two results compared.

  run-corpus.py [--no-peer] [--keep] [-v] [CASE...]   CASE: a name, a number or a glob (0*-from*)

Environment (as the bats tests get it from tests/CMakeLists.txt): BERTH (the binary),
BERTH_FIXTURES (busybox-rootfs.tar). BERTH_CORPUS_PEER=0 skips the buildah comparison.

Case file format
  # comments and `tags: peer` before the first section
  --- Dockerfile            the Dockerfile (written to the context as `Dockerfile`)
  --- Dockerfile.NAME       built first, from the same context, as image NAME (ONBUILD, --from=image)
  --- file: PATH            a context file with exactly the lines that follow
  --- files                 one per line: `file PATH [mode=644] [content=TEXT]` (TEXT with \\n
                            escapes), `dir PATH [mode=755]`, `symlink PATH -> TARGET`,
                            `tar PATH[.gz|.xz|.bz2] MEMBER=TEXT...`, `fifo PATH`
  --- args                  berth build's flags (shell words); @stdin-dockerfile (-f - with the
                            Dockerfile on stdin), @stdin-tar (the context as a tar on stdin),
                            @context=PATH (another context, e.g. a missing one)
  --- www                   lines NAME=TEXT served at {http}/NAME (a loopback server) for ADD URL
  --- peer-ignore           lines `KEY reason`: a config field or a tree path buildah differs in
                            (each one documented in docs/build.md)
  --- expect                one check per line:
      error TEXT            the build fails and its stderr contains TEXT
      exit N                the build's exit status is N
      output TEXT / !output TEXT   stdout+stderr (do not) contain TEXT
      config .F == JSON     the image config's field F (dotted path) equals JSON
      config .F contains X  a list holds X (JSON or a bare string), a map holds key X
      config .F !contains X / config .F absent
      history-empty JSON    the empty_layer flags of the last len(JSON) history entries
      history TEXT          some history entry's created_by contains TEXT
      layers N              the image has N layers
      file PATH k=v...      a regular file; keys mode (octal), uid, gid, content (escapes), size
      dir PATH k=v...       a directory (mode, uid, gid)
      symlink PATH -> T     a symbolic link to T
      exists PATH / absent PATH
      whiteout PATH         some layer has the whiteout for PATH; no-whiteouts: none has any
      rebuild-cached        a second identical build reports CACHED and yields the same layers
      killed-first TEXT     first a build is SIGKILLed once its output shows TEXT; then the case's
      run-root-clean        no --secret env= copy is left in RUN_ROOT
      no-stale-builds       ROOT/build holds no work directory after the build (a killed one's
                            work removed; the context-hashes cache file stays)
"""

import argparse
import codecs
import fnmatch
import gzip
import hashlib
import io
import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
CONFIG_FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
                 "Labels", "StopSignal", "Healthcheck"]


# What buildah's chroot isolation leaves in the layers of every RUN (the file it mounts over).
BUILDAH_ARTIFACTS = {"/etc/hostname"}


class CaseError(Exception):
    pass


def unescape(text):
    return codecs.decode(text, "unicode_escape")


# ---------------------------------------------------------------- case files

class Case:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)[:-len(".case")]
        self.tags = set()
        self.sections = []  # (header, [lines])
        header, lines = None, []
        with open(path, encoding="utf-8") as f:
            for raw in f.read().split("\n"):
                if raw.startswith("--- "):
                    if header is not None:
                        self.sections.append((header, lines))
                    header, lines = raw[4:].strip(), []
                elif header is None:
                    if raw.startswith("tags:"):
                        self.tags.update(raw[5:].split())
                else:
                    lines.append(raw)
        if header is not None:
            self.sections.append((header, lines))
        while self.sections and False:
            pass

    def section(self, name):
        for header, lines in self.sections:
            if header == name:
                return lines
        return None

    def text(self, name):
        lines = self.section(name)
        if lines is None:
            return None
        # A section ends with the blank line before the next header: drop trailing blanks.
        while lines and lines[-1] == "":
            lines = lines[:-1]
        return "\n".join(lines) + "\n"

    def checks(self):
        return [l.strip() for l in (self.section("expect") or [])
                if l.strip() and not l.strip().startswith("#")]


def make_context(case, ctx, http=""):
    os.makedirs(ctx)
    df = case.text("Dockerfile")
    if df is not None:
        df = df.replace("{http}", http)
    if df is not None:
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(df)
    for header, _ in case.sections:
        if header.startswith("file:"):
            rel = header[5:].strip()
            dest = os.path.join(ctx, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "w") as f:
                f.write(case.text(header))
    for line in case.section("files") or []:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, rest = line.split(None, 1)
        if kind == "symlink":
            src, target = [s.strip() for s in rest.split("->", 1)]
            dest = os.path.join(ctx, src)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.symlink(target, dest)
            continue
        words = rest.split()
        dest = os.path.join(ctx, unescape(words[0]))
        opts = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if kind == "file":
            with open(dest, "wb") as f:
                f.write(unescape(opts.get("content", "")).encode("latin-1"))
            os.chmod(dest, int(opts.get("mode", "644"), 8))
        elif kind == "dir":
            os.makedirs(dest, exist_ok=True)
            os.chmod(dest, int(opts.get("mode", "755"), 8))
        elif kind == "fifo":
            os.mkfifo(dest)
        elif kind == "tar":
            mode = {"gz": "w:gz", "xz": "w:xz", "bz2": "w:bz2"}.get(dest.rsplit(".", 1)[-1], "w")
            with tarfile.open(dest, mode) as t:
                for member in words[1:]:
                    name, content = member.split("=", 1)
                    if name.endswith("/"):
                        info = tarfile.TarInfo(name.rstrip("/"))
                        info.type, info.mode = tarfile.DIRTYPE, 0o755
                        t.addfile(info)
                        continue
                    data = unescape(content).encode("latin-1")
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = len(data), 0o640, 1700000000
                    t.addfile(info, io.BytesIO(data))
        else:
            raise CaseError(f"files: unknown kind {kind!r}")


# ---------------------------------------------------------------- images

def norm(name):
    """A tar member's name as an absolute path: "./a/b/" -> "/a/b", "." -> "/"."""
    return os.path.normpath("/" + name).replace("//", "/")


class Tree:
    """The file tree a list of layer tars adds up to, with the whiteouts each one holds."""

    def __init__(self):
        self.entries = {}     # "/path" -> dict(type, mode, uid, gid, link, data)
        self.whiteouts = []   # "/path" deleted by a .wh. entry (".wh..wh..opq" -> "/dir/*")

    def apply(self, fileobj):
        with tarfile.open(fileobj=fileobj, mode="r:*") as t:
            members = t.getmembers()
            # Opaque directories first: they hide the lower layers, not this one.
            for m in members:
                name = norm(m.name)
                base = os.path.basename(name)
                if base == ".wh..wh..opq":
                    d = os.path.dirname(name)
                    self.whiteouts.append(d + "/*")
                    for p in list(self.entries):
                        if p.startswith(d.rstrip("/") + "/"):
                            del self.entries[p]
            for m in members:
                name = norm(m.name)
                base = os.path.basename(name)
                if base == ".wh..wh..opq":
                    continue
                if base.startswith(".wh."):
                    gone = os.path.join(os.path.dirname(name), base[4:])
                    self.whiteouts.append(gone)
                    for p in list(self.entries):
                        if p == gone or p.startswith(gone + "/"):
                            del self.entries[p]
                    continue
                e = {"mode": m.mode & 0o7777, "uid": m.uid, "gid": m.gid, "link": None,
                     "data": None}
                if m.isdir():
                    e["type"] = "dir"
                elif m.issym():
                    e["type"], e["link"] = "symlink", m.linkname
                elif m.islnk():
                    target = self.entries.get(norm(m.linkname))
                    e = dict(target) if target else dict(e, type="file", data=b"")
                elif m.isfile():
                    e["type"] = "file"
                    e["data"] = t.extractfile(m).read()
                else:
                    e["type"] = "other"
                # A non-directory replaces a whole subtree; a directory over a file replaces it.
                old = self.entries.get(name)
                if old and old["type"] == "dir" and e["type"] != "dir":
                    for p in list(self.entries):
                        if p.startswith(name + "/"):
                            del self.entries[p]
                self.entries[name] = e

    def listing(self):
        out = {}
        for p, e in self.entries.items():
            desc = f"{e['type']} {e['mode']:o} {e['uid']}:{e['gid']}"
            if e["type"] == "symlink":
                desc += " -> " + e["link"]
            elif e["type"] == "file":
                desc += " sha256:" + hashlib.sha256(e["data"]).hexdigest()[:12]
            out[p] = desc
        return out


def read_oci(blob_dir, manifest_digest):
    def blob(d):
        return os.path.join(blob_dir, d.split(":", 1)[1])
    with open(blob(manifest_digest)) as f:
        manifest = json.load(f)
    with open(blob(manifest["config"]["digest"])) as f:
        config = json.load(f)
    tree = Tree()
    for layer in manifest["layers"]:
        with open(blob(layer["digest"]), "rb") as f:
            tree.apply(f)
    return manifest, config, tree


def lookup(obj, dotted):
    for key in [k for k in dotted.split(".") if k]:
        if not isinstance(obj, dict) or key not in obj:
            return KeyError
        obj = obj[key]
    return obj


def as_json(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


# ---------------------------------------------------------------- the runner

class Runner:
    def __init__(self, args):
        self.args = args
        self.berth = os.environ.get("BERTH") or shutil.which("berth")
        fixtures = os.environ.get("BERTH_FIXTURES")
        if not self.berth or not fixtures:
            sys.exit("run-corpus: set BERTH and BERTH_FIXTURES (see tests/CMakeLists.txt)")
        self.rootfs_tar = os.path.join(fixtures, "busybox-rootfs.tar")
        self.tmp = tempfile.mkdtemp(prefix="berth-corpus.")
        self.root = os.path.join(self.tmp, "root")
        self.run_root = os.path.join(self.tmp, "run")
        # Decoys for the programs libarchive's catch-all filter runs on data with their magic
        # numbers: berth must decode archives in the process, so each case checks none ran.
        decoys = os.path.join(self.tmp, "decoy-bin")
        os.makedirs(decoys)
        self.decoy_ran = os.path.join(self.tmp, "decoy-ran")
        for program in ("lrzip", "lzop", "grzip", "lz4", "lzip", "lzma", "compress", "uncompress"):
            path = os.path.join(decoys, program)
            with open(path, "w") as f:
                f.write(f"#!/bin/sh\necho {program} >>'{self.decoy_ran}'\nexit 1\n")
            os.chmod(path, 0o755)
        self.env = dict(os.environ, BERTH_ROOT=self.root, BERTH_RUN_ROOT=self.run_root,
                        PATH=decoys + os.pathsep + os.environ.get("PATH", ""))
        self.env.pop("BERTH_CORPUS_PEER", None)
        self.buildah = None
        if args.peer and os.environ.get("BERTH_CORPUS_PEER", "1") != "0":
            self.buildah = shutil.which("buildah")
        self.peer_ready = False

    # -- berth
    def b(self, *argv, stdin=None, check=True, timeout=300, cwd=None):
        p = subprocess.run([self.berth, *argv], env=self.env, input=stdin, capture_output=True,
                           timeout=timeout, cwd=cwd)
        if check and p.returncode != 0:
            raise CaseError(f"berth {' '.join(argv)} -> {p.returncode}: "
                            f"{p.stderr.decode(errors='replace').strip()}")
        return p

    def setup(self):
        os.makedirs(self.root)
        os.makedirs(self.run_root)
        self.b("image", "import", self.rootfs_tar, "busybox")

    def mounts_under(self, *dirs):
        dirs = dirs or (self.tmp,)
        found = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split()[4]
                if any(point.startswith(d + "/") for d in dirs):
                    found.append(point)
        return found

    def cleanup(self):
        status = 0
        if os.path.isdir(self.root):
            ids = self.b("ps", "-aq", check=False).stdout.decode().split()
            if ids:
                self.b("rm", "-f", *ids, check=False)
            if self.b("system", "check", check=False).returncode != 0:
                print("run-corpus: berth system check failed", file=sys.stderr)
                status = 1
            self.b("system", "reset", "--force", check=False)
        if getattr(self, "_server", None):
            self._server.shutdown()
        if self.buildah and self.peer_ready:
            subprocess.run(self.buildah_cmd("rm", "--all"), capture_output=True)
            subprocess.run(self.buildah_cmd("rmi", "--all", "--force"), capture_output=True)
        for point in sorted(self.mounts_under(), reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        if not self.args.keep:
            subprocess.run(["rm", "-rf", "--one-file-system", self.tmp])
        else:
            print(f"run-corpus: kept {self.tmp}")
        return status

    # -- buildah
    def buildah_cmd(self, *argv):
        return [self.buildah, "--root", os.path.join(self.tmp, "buildah-root"),
                "--runroot", os.path.join(self.tmp, "buildah-run"), "--storage-driver", os.environ.get("BERTH_CORPUS_BUILDAH_DRIVER", "overlay"),
                *argv]

    def peer_setup(self):
        if self.peer_ready:
            return True
        archive = os.path.join(self.tmp, "busybox-docker.tar")
        self.b("save", "-o", archive, "busybox")
        p = subprocess.run(self.buildah_cmd("pull", "-q", "docker-archive:" + archive),
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(f"run-corpus: buildah cannot load busybox ({p.stderr.strip()}): no peer",
                  file=sys.stderr)
            self.buildah = None
            return False
        subprocess.run(self.buildah_cmd("tag", p.stdout.split()[-1], "busybox"), check=True,
                       capture_output=True)
        self.peer_ready = True
        return True

    def bud(self, ctx, flags, tag, dockerfile=None):
        argv = ["bud", "--pull-never", "--isolation", "chroot", "--layers",
                "--format", "docker", "-t", tag, *flags]
        if dockerfile:
            argv += ["-f", os.path.join(ctx, dockerfile)]
        # buildah (with runc's memfd sealing) sometimes fails with EBUSY on a loaded machine: a
        # peer's flake, not berth's, so such a build is tried again before the case fails.
        for attempt in range(3):
            p = subprocess.run(self.buildah_cmd(*argv, ctx), capture_output=True, text=True,
                               timeout=300, cwd=ctx)
            if p.returncode == 0 or "resource busy" not in p.stderr:
                break
            print(f"    buildah bud: transient failure, attempt {attempt + 1}: "
                  f"{p.stderr.strip().splitlines()[0][:200]}", flush=True)
            time.sleep(0.5)
        if p.returncode != 0:
            raise CaseError(f"buildah bud failed ({p.returncode}): {p.stderr.strip()[-400:]}")

    def peer_build(self, case, ctx, flags, name):
        out = os.path.join(self.tmp, "peer-" + case.name)
        for header, _ in case.sections:
            if header.startswith("Dockerfile."):
                self.bud(ctx, [], header.split(".", 1)[1], dockerfile=header)
        self.bud(ctx, flags, "corpus-" + name)
        # The docker-format config (an OCI one has no Healthcheck, OnBuild or Shell).
        p = subprocess.run(self.buildah_cmd("inspect", "--type", "image", "corpus-" + name),
                           capture_output=True, text=True, check=True)
        docker_config = json.loads(p.stdout)["Docker"]
        p = subprocess.run(self.buildah_cmd("push", "corpus-" + name, "oci:" + out),
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise CaseError(f"buildah push failed: {p.stderr.strip()[-300:]}")
        with open(os.path.join(out, "index.json")) as f:
            digest = json.load(f)["manifests"][0]["digest"]
        manifest, _, tree = read_oci(os.path.join(out, "blobs", "sha256"), digest)
        shutil.rmtree(out)
        return manifest, docker_config, tree

    # -- one case
    def build(self, case, ctx, flags, tag, dockerfile_name=None):
        argv = ["build", "--progress", "plain", "-t", tag]
        stdin = None
        context = ctx
        for word in flags:
            if word == "@stdin-dockerfile":
                argv += ["-f", "-"]
                with open(os.path.join(ctx, "Dockerfile"), "rb") as f:
                    stdin = f.read()
            elif word == "@stdin-tar":
                buf = io.BytesIO()
                with tarfile.open(fileobj=buf, mode="w") as t:
                    for entry in sorted(os.listdir(ctx)):
                        t.add(os.path.join(ctx, entry), arcname=entry)
                stdin, context = buf.getvalue(), "-"
            elif word.startswith("@context="):
                context = word.split("=", 1)[1].replace("{tmp}", self.tmp)
            else:
                argv.append(word)
        if dockerfile_name:
            argv += ["-f", os.path.join(ctx, dockerfile_name)]
        argv.append(context)
        start = time.monotonic()
        # From the context, as a user would run it (--secret src=FILE is relative to here).
        p = self.b(*argv, stdin=stdin, check=False, cwd=ctx)
        return p, time.monotonic() - start

    def killed_build(self, ctx, flags, tag, marker):
        """A first build SIGKILLed once its output shows `marker` (a step running)."""
        argv = [self.berth, "build", "--progress", "plain", "-t", tag, *flags, ctx]
        log = os.path.join(self.tmp, "killed.log")
        with open(log, "wb") as f:
            proc = subprocess.Popen(argv, env=self.env, stdout=f, stderr=subprocess.STDOUT,
                                    cwd=ctx)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                with open(log, "rb") as f:
                    if marker.encode() in f.read():
                        break
                time.sleep(0.05)
            else:
                raise CaseError(f"the first build never showed {marker!r}")
            time.sleep(0.3)
        finally:
            if proc.poll() is None:
                proc.kill()   # SIGKILL, this process only: its step's container is left behind
            proc.wait()

    def image(self, tag):
        info = json.loads(self.b("image", "inspect", tag).stdout)
        digest = info[0]["Manifest"]["Digest"]
        # Built layers are kept as directories until something asks for their blobs: a save
        # writes them (checked against their digests), then the tars are read from the store.
        saved = os.path.join(self.root, "corpus-save.tar")
        self.b("save", "-o", saved, tag)
        os.unlink(saved)
        return read_oci(os.path.join(self.root, "blobs", "sha256"), digest), info[0]["Id"]

    def http_server(self):
        """A loopback HTTP server of tmp/www for ADD URL cases ({http} in a Dockerfile)."""
        if getattr(self, "_http", None):
            return self._http
        import functools
        import http.server
        import threading
        www = os.path.join(self.tmp, "www")
        os.makedirs(www, exist_ok=True)
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *_):
                pass
        handler = functools.partial(Quiet, directory=www)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        self._http = f"http://127.0.0.1:{server.server_address[1]}"
        return self._http

    def run_case(self, case):
        ctx = os.path.join(self.tmp, "ctx-" + case.name)
        http = ""
        if "{http}" in (case.text("Dockerfile") or ""):
            http = self.http_server()
            for line in case.section("www") or []:
                if line.strip():
                    name, content = line.strip().split("=", 1)
                    with open(os.path.join(self.tmp, "www", name), "wb") as f:
                        f.write(unescape(content).encode("latin-1"))
        make_context(case, ctx, http)
        tag = "corpus-" + case.name.lower()
        args_text = " ".join(case.section("args") or [])
        flags = shlex.split(args_text)
        # Images the case builds first (ONBUILD parents, COPY --from=image sources).
        for header, _ in case.sections:
            if header.startswith("Dockerfile."):
                name = header.split(".", 1)[1]
                path = os.path.join(ctx, header)
                with open(path, "w") as f:
                    f.write(case.text(header))
                p, _ = self.build(case, ctx, [], name, dockerfile_name=header)
                if p.returncode != 0:
                    raise CaseError(f"building {name} failed: {p.stderr.decode().strip()}")
        for check in case.checks():
            if check.startswith("killed-first "):
                self.killed_build(ctx, flags, tag, unescape(check.split(" ", 1)[1]))
        p, took = self.build(case, ctx, flags, tag)
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        err = p.stderr.decode(errors="replace")
        checks = case.checks()
        wants_error = any(c.startswith(("error ", "exit ")) for c in checks)
        failures = []
        if wants_error and p.returncode == 0:
            failures.append("the build succeeded but an error was expected")
        if not wants_error and p.returncode != 0:
            raise CaseError(f"build failed ({p.returncode}): {err.strip()[-600:]}")
        leftover = self.mounts_under(self.root, self.run_root)
        if leftover:
            failures.append(f"mounts left behind: {leftover}")
        image = None
        if p.returncode == 0:
            (manifest, config, tree), image_id = self.image(tag)
            image = (manifest, config, tree, image_id)
        for check in checks:
            problem = self.check(check, p, out, err, image, case, ctx, flags, tag)
            if problem:
                failures.append(f"{check}: {problem}")
        if "peer" in case.tags and self.buildah and image and not failures:
            if self.peer_setup():
                failures += self.compare_peer(case, ctx, flags, image)
        if not self.args.keep:
            shutil.rmtree(ctx, ignore_errors=True)
        if self.args.verbose or failures:
            print("    " + out.strip().replace("\n", "\n    ")[-3000:])
        return failures, took

    def check(self, check, p, out, err, image, case, ctx, flags, tag):
        verb, _, rest = check.partition(" ")
        rest = rest.strip()
        if verb == "error":
            return None if rest in err else f"stderr was: {err.strip()[-500:]!r}"
        if verb == "exit":
            return None if p.returncode == int(rest) else f"exit status {p.returncode}"
        if verb == "output":
            return None if unescape(rest) in out else "not in the output"
        if verb == "!output":
            return "in the output" if unescape(rest) in out else None
        if image is None:
            return "no image to check"
        manifest, config, tree, image_id = image
        if verb == "config":
            field, op, *value = rest.split(None, 2)
            got = lookup(config.get("config", {}), field)
            value = as_json(value[0]) if value else None
            if op == "absent":
                return None if got is KeyError or got in (None, [], {}, "") else f"is {got!r}"
            if got is KeyError:
                return "absent"
            if op == "==":
                return None if got == value else f"is {json.dumps(got)}"
            if op in ("contains", "!contains"):
                has = (value in got) if isinstance(got, (list, dict)) else (str(value) in got)
                return None if has == (op == "contains") else f"is {json.dumps(got)}"
            return f"unknown operator {op}"
        if verb == "history-empty":
            want = json.loads(rest)
            hist = config.get("history", [])
            got = [bool(h.get("empty_layer", False)) for h in hist][-len(want):]
            return None if got == want else f"is {json.dumps(got)} " \
                f"({[h.get('created_by') for h in hist[-len(want):]]})"
        if verb == "history":
            return None if any(rest in h.get("created_by", "") for h in
                               config.get("history", [])) else \
                f"not in {[h.get('created_by') for h in config.get('history', [])]}"
        if verb == "layers":
            n = len(manifest["layers"])
            return None if n == int(rest) else f"{n} layers"
        if verb in ("file", "dir", "exists", "absent"):
            words = rest.split()
            path = unescape(words[0])
            e = tree.entries.get(path)
            if verb == "absent":
                return None if e is None else f"exists ({e['type']})"
            if e is None:
                near = sorted(p for p in tree.entries if p.startswith(os.path.dirname(path)))
                return f"missing (beside it: {near[:12]})"
            if verb == "exists":
                return None
            if e["type"] != verb:
                return f"is a {e['type']}"
            for w in words[1:]:
                key, value = w.split("=", 1)
                if key == "mode" and e["mode"] != int(value, 8):
                    return f"mode {e['mode']:o}"
                if key in ("uid", "gid") and e[key] != int(value):
                    return f"{key} {e[key]}"
                if key == "content" and e["data"] != unescape(value).encode("latin-1"):
                    return f"content {e['data'][:200]!r}"
                if key == "size" and len(e["data"]) != int(value):
                    return f"size {len(e['data'])}"
            return None
        if verb == "symlink":
            path, target = [s.strip() for s in rest.split("->", 1)]
            e = tree.entries.get(path)
            if e is None or e["type"] != "symlink":
                return f"is {e and e['type']}"
            return None if e["link"] == target else f"points to {e['link']}"
        if verb == "whiteout":
            return None if rest in tree.whiteouts else f"whiteouts: {tree.whiteouts}"
        if verb == "no-whiteouts":
            return None if not tree.whiteouts else f"whiteouts: {tree.whiteouts}"
        if verb == "killed-first":
            return None  # done before the build
        if verb == "run-root-clean":
            left = [d for d in os.listdir(self.run_root) if d.startswith("build-secret")]
            return f"left in RUN_ROOT: {left}" if left else None
        if verb == "no-stale-builds":
            left = [d for d in os.listdir(os.path.join(self.root, "build")) if d != "context-hashes"]
            return f"left in ROOT/build: {left}" if left else None
        if verb == "rebuild-cached":
            p2, _ = self.build(case, ctx, flags, tag)
            out2 = p2.stdout.decode() + p2.stderr.decode()
            if p2.returncode != 0:
                return f"the rebuild failed: {out2[-300:]}"
            if "CACHED" not in out2:
                return f"nothing CACHED in the rebuild: {out2[-400:]!r}"
            # The same layers (the image id also holds the creation time).
            (_, config2, _), _ = self.image(tag)
            ours, again = config["rootfs"]["diff_ids"], config2["rootfs"]["diff_ids"]
            return None if ours == again else f"the rebuild made layers {again}, not {ours}"
        return f"unknown check {verb!r}"

    def compare_peer(self, case, ctx, flags, image):
        manifest, config, tree, _ = image
        ignore = {}
        for line in case.section("peer-ignore") or []:
            if line.strip():
                key, _, reason = line.strip().partition(" ")
                ignore[key] = reason
        peer_flags = [f for f in flags if not f.startswith("@") and f != "--flat"]
        _, pconfig, ptree = self.peer_build(case, ctx, peer_flags, case.name.lower())
        diffs = []
        for field in CONFIG_FIELDS:
            if field in ignore:
                continue
            ours = config.get("config", {}).get(field) or None
            theirs = pconfig.get("config", {}).get(field) or None
            if field == "Labels" and theirs:
                # buildah stamps its version on every image.
                theirs = {k: v for k, v in theirs.items() if k != "io.buildah.version"} or None
            if field == "Healthcheck" and theirs:
                theirs = {k: v for k, v in theirs.items() if v not in (0, None)}
                ours = ours and {k: v for k, v in ours.items() if v not in (0, None)}
            if ours != theirs:
                diffs.append(f"peer: .{field} berth {json.dumps(ours)} buildah {json.dumps(theirs)}")
        a, b = tree.listing(), ptree.listing()
        for path in sorted(set(a) | set(b)):
            if any(fnmatch.fnmatch(path, pat) for pat in ignore if pat.startswith("/")) or \
                    path in BUILDAH_ARTIFACTS:
                continue
            if a.get(path) != b.get(path):
                diffs.append(f"peer: {path}: berth {a.get(path)} buildah {b.get(path)}")
        return diffs[:20]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--no-peer", dest="peer", action="store_false")
    ap.add_argument("--keep", action="store_true", help="keep the roots and contexts")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    files = sorted(f for f in os.listdir(CORPUS) if f.endswith(".case"))
    if args.cases:
        chosen = []
        for f in files:
            stem = f[:-5]
            if any(stem == c or stem.split("-", 1)[0] == c or fnmatch.fnmatch(stem, c)
                   for c in args.cases):
                chosen.append(f)
        if not chosen:
            sys.exit(f"run-corpus: no case matches {args.cases}")
        files = chosen
    runner = Runner(args)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    failed, passed = [], 0
    status = 1
    try:
        runner.setup()
        print(f"run-corpus: {len(files)} cases, berth {runner.berth}, "
              f"peer {'buildah' if runner.buildah else 'none'}")
        for f in files:
            case = Case(os.path.join(CORPUS, f))
            try:
                problems, took = runner.run_case(case)
            except (CaseError, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
                problems, took = [f"{type(e).__name__}: {e}"], 0.0
            if os.path.exists(runner.decoy_ran):
                with open(runner.decoy_ran) as ran:
                    problems.append("berth ran an external decompressor: " + " ".join(ran.read().split()))
                os.unlink(runner.decoy_ran)
            if problems:
                failed.append(case.name)
                print(f"FAIL {case.name}")
                for pr in problems:
                    print(f"     {pr}")
            else:
                passed += 1
                peer = " (=buildah)" if "peer" in case.tags and runner.buildah else ""
                print(f"PASS {case.name} {took:.2f}s{peer}")
            sys.stdout.flush()
        print(f"run-corpus: {passed} passed, {len(failed)} failed of {len(files)}")
        if failed:
            print("failed: " + " ".join(failed))
        status = 1 if failed else 0
    finally:
        if runner.cleanup() != 0:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
