#!/usr/bin/env python3
"""The registry's permission matrix, generated exhaustively against a real `berth registry serve`.

Usage: registry_acl_matrix.py BERTH WORKDIR   (WORKDIR holds an htpasswd with the users below)

Identities (anonymous, Basic users, wrong password, bearer tokens good and bad) x every endpoint
and method of the distribution API the server has x repositories in and out of each identity's
scope, plus path tricks and names at the grammar's limits. For each request the expected decision
comes from a model of the config written below; a denied write is then checked to have changed
nothing, an allowed one to have taken effect. Catalogs are compared with the model, and no
response to an identity outside other/* may mention the secret repository's content.

Prints one line per failure and a summary; exits 1 when anything failed.
"""
import atexit
import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

BERTH, WORK = sys.argv[1], sys.argv[2]
SERVICE, ISSUER = "berth-acl", "berth-acl-issuer"
SECRET_TAG = "s3cr3t-tag"
PASSWORDS = {"reader": "reader-pw", "writer": "writer-pw", "admin": "admin-pw"}
# Repositories the matrix runs on: in the readers' scope, outside it, public, and one that does
# not exist yet (an allowed push creates it).
REPOS = ["team/app", "other/secret", "public/lib", "team/new"]
SEEDED = ["team/app", "other/secret", "public/lib"]

failures = []
counted = 0


def fail(message):
    failures.append(message)
    print("FAIL " + message, flush=True)


# ---- the model of the config ------------------------------------------------------------------
CONFIG = {
    "htpasswd": "htpasswd",
    "anonymous_pull": ["public/*"],
    "rules": [
        {"repository": "team/*", "users": ["reader"], "actions": ["pull"]},
        {"repository": "team/*", "users": ["writer"], "actions": ["pull", "push"]},
        {"repository": "*", "users": ["admin"], "actions": ["*"]},
    ],
}


def user_may(user, repo):
    """What the rules give `user` (empty: anonymous) on `repo`."""
    out = set()
    if repo.startswith("public/"):
        out.add("pull")
    if user == "admin":
        out |= {"pull", "push", "delete"}
    if repo.startswith("team/"):
        if user == "reader":
            out.add("pull")
        if user == "writer":
            out |= {"pull", "push"}
    return out


class Identity:
    """kind: anon, user, token or invalid (every request refused with 401)."""

    def __init__(self, name, kind, header=None, user="", grants=None, catalog=False):
        self.name, self.kind, self.header, self.user = name, kind, header, user
        self.grants = grants or {}  # tokens: repo -> actions
        self.catalog = catalog

    def may(self, repo, action):
        if self.kind == "invalid":
            return False
        if self.kind == "token":
            return action in self.grants.get(repo, set())
        return action in user_may(self.user, repo)

    def may_list_catalog(self):
        if self.kind == "token":
            return self.catalog
        return self.kind == "user"

    def catalog_view(self, repo):
        # A token's catalog: repositories its grants or its user's rules let it pull.
        if self.kind == "token":
            return "pull" in self.grants.get(repo, set()) or "pull" in user_may(self.user, repo)
        return "pull" in user_may(self.user, repo)


# ---- HTTP ---------------------------------------------------------------------------------------
class Client:
    def __init__(self, addr):
        self.host, port = addr.rsplit(":", 1)
        self.port = int(port)
        self.conn = None

    def request(self, method, path, headers=None, body=None):
        global counted
        counted += 1
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims, key, alg="HS256"):
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def claims_of(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---- servers ------------------------------------------------------------------------------------
servers = []


@atexit.register
def stop_servers():
    for p in servers:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in servers:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def start_server(name, config, key):
    d = os.path.join(WORK, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "token.key"), "wb") as f:
        f.write(key)
    os.symlink(os.path.join(WORK, "htpasswd"), os.path.join(d, "htpasswd"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f)
    log = open(os.path.join(d, "server.log"), "w+")
    p = subprocess.Popen([BERTH, "registry", "serve", "--root", os.path.join(d, "storage"),
                          "--addr", "127.0.0.1:0", "--config", os.path.join(d, "config.json")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    servers.append(p)
    for _ in range(200):
        log.seek(0)
        for line in log:
            if "listening on http://" in line:
                addr = line.split("listening on http://")[1].split()[0]
                return addr, os.path.join(d, "storage")
        if p.poll() is not None:
            break
        time.sleep(0.05)
    log.seek(0)
    sys.exit(f"registry {name} did not start:\n{log.read()}")


def config_with_token(addr_placeholder, service, issuer):
    c = dict(CONFIG)
    c["token"] = {"realm": f"http://{addr_placeholder}/token", "service": service,
                  "issuer": issuer, "key_file": "token.key", "ttl": 300}
    return c


KEY = os.urandom(32)
OTHER_KEY = os.urandom(32)
# The realm's host does not matter to the server (it serves the realm's path); clients here ask
# /token directly.
ADDR, STORAGE = start_server("main", config_with_token("registry.test", SERVICE, ISSUER), KEY)
OTHER_ADDR, _ = start_server("other", config_with_token("other.test", "other-registry", ISSUER),
                             OTHER_KEY)
c = Client(ADDR)
ADMIN = {"Authorization": basic("admin", PASSWORDS["admin"])}


def get_token(client, auth, scopes, service=SERVICE):
    q = urllib.parse.urlencode([("service", service)] + [("scope", s) for s in scopes])
    st, _, data = client.request("GET", "/token?" + q, {"Authorization": auth} if auth else {})
    if st != 200:
        sys.exit(f"token for {scopes}: {st} {data!r}")
    return json.loads(data)["token"]


# ---- seed ---------------------------------------------------------------------------------------
def push_blob(repo, data, auth=ADMIN):
    st, _, body = c.request("POST", f"/v2/{repo}/blobs/uploads/?digest={sha(data)}", auth, data)
    assert st == 201, f"seed blob in {repo}: {st} {body!r}"
    return sha(data)


CONFIG_BLOB = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
LAYERS = {}
MARKERS = {}
unique_counter = [0]


def unique(prefix="u"):
    unique_counter[0] += 1
    return f"{prefix}{unique_counter[0]}"


def manifest_for(repo, note):
    layer = LAYERS.get(repo, LAYERS["team/app"])
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(CONFIG_BLOB), "size": len(CONFIG_BLOB)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha(layer), "size": len(layer)}],
        "annotations": {"note": note}}).encode()


MANIFEST_HEADERS = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}


def put_manifest(repo, ref, body, auth=ADMIN):
    return c.request("PUT", f"/v2/{repo}/manifests/{ref}", {**auth, **MANIFEST_HEADERS}, body)


V1 = {}
for repo in SEEDED:
    LAYERS[repo] = f"layer of {repo} {os.urandom(8).hex()}".encode()
    push_blob(repo, CONFIG_BLOB)
    push_blob(repo, LAYERS[repo])
    MARKERS[repo] = push_blob(repo, f"marker of {repo} {os.urandom(8).hex()}".encode())
    body = manifest_for(repo, SECRET_TAG if repo == "other/secret" else repo)
    assert put_manifest(repo, "v1", body)[0] == 201
    V1[repo] = sha(body)
assert put_manifest("other/secret", SECRET_TAG, manifest_for("other/secret", "tagged"))[0] == 201
SECRET_STRINGS = [SECRET_TAG, V1["other/secret"], MARKERS["other/secret"],
                  sha(LAYERS["other/secret"])]

# ---- identities ---------------------------------------------------------------------------------
now = int(time.time())
ALL_SCOPES = [f"repository:{r}:pull,push,delete" for r in REPOS] + ["registry:catalog:*"]


def token_identity(name, user):
    tok = get_token(c, basic(user, PASSWORDS[user]) if user else None, ALL_SCOPES)
    cl = claims_of(tok)
    grants = {g["name"]: set(g["actions"]) for g in cl["access"] if g["type"] == "repository"}
    catalog = any(g["type"] == "registry" for g in cl["access"])
    # The token must grant exactly what the rules allow.
    for r in REPOS:
        want = user_may(user, r)
        if grants.get(r, set()) != want:
            fail(f"token for {user or 'anonymous'} grants {sorted(grants.get(r, set()))} on {r}, "
                 f"the rules allow {sorted(want)}")
    if catalog != bool(user):
        fail(f"token for {user or 'anonymous'}: catalog grant is {catalog}")
    return Identity(name, "token", "Bearer " + tok, user, grants, catalog), tok


def forged(claims_update, key=KEY, alg="HS256"):
    claims = {"iss": ISSUER, "sub": "admin", "aud": SERVICE, "iat": now, "nbf": now,
              "exp": now + 300, "jti": "x",
              "access": [{"type": "repository", "name": r, "actions": ["*"]} for r in REPOS] +
              [{"type": "registry", "name": "catalog", "actions": ["*"]}]}
    claims.update(claims_update)
    return "Bearer " + sign(claims, key, alg)


identities = [
    Identity("anonymous", "anon"),
    Identity("anonymous-basic", "anon", basic("", "")),
    Identity("reader", "user", basic("reader", PASSWORDS["reader"]), "reader"),
    Identity("writer", "user", basic("writer", PASSWORDS["writer"]), "writer"),
    Identity("admin", "user", ADMIN["Authorization"], "admin"),
    Identity("wrong-password", "invalid", basic("writer", "not-the-password")),
    Identity("unknown-user", "invalid", basic("mallory", "x")),
    Identity("garbage-basic", "invalid", "Basic %%%not-base64"),
    Identity("unknown-scheme", "invalid", "Digest username=admin"),
]
for user, name in [("", "anonymous-token"), ("reader", "reader-token"),
                   ("writer", "writer-token"), ("admin", "admin-token")]:
    ident, tok = token_identity(name, user)
    identities.append(ident)
    if user == "writer":
        writer_token = tok
    if user == "admin":
        admin_token = tok

# A writer's token for another repository only.
other_repo = get_token(c, basic("writer", PASSWORDS["writer"]), ["repository:team/other:pull,push"])
identities.append(Identity("token-other-repository", "token", "Bearer " + other_repo, "writer",
                           {"team/other": {"pull", "push"}}, False))
# An admin token of another registry (its own key and service), from a real second server.
other_registry = get_token(Client(OTHER_ADDR), ADMIN["Authorization"], ALL_SCOPES,
                           "other-registry")
identities.append(Identity("token-other-registry", "invalid", "Bearer " + other_registry))
# Tokens signed with this registry's key but wrong in one claim, and tampered ones.
identities += [
    Identity("token-expired", "invalid", forged({"exp": now - 1, "iat": now - 600})),
    Identity("token-not-yet-valid", "invalid", forged({"nbf": now + 3600})),
    Identity("token-other-audience", "invalid", forged({"aud": "other-registry"})),
    Identity("token-other-issuer", "invalid", forged({"iss": "someone-else"})),
    Identity("token-other-key", "invalid", forged({}, OTHER_KEY)),
    Identity("token-alg-none", "invalid",
             "Bearer " + b64url(b'{"alg":"none","typ":"JWT"}') + "." +
             forged({}).split(".")[1] + "."),
    Identity("token-no-exp", "invalid", forged({"exp": None})),
    Identity("token-empty", "invalid", "Bearer "),
    Identity("token-garbage", "invalid", "Bearer a.b.c"),
]
# The writer's own token with its claims edited (delete added, scope widened) and the signature
# kept; and the same with the signature of the original token's header re-encoded.
parts = writer_token.split(".")
tampered = claims_of(writer_token)
tampered["access"] = [{"type": "repository", "name": r, "actions": ["*"]} for r in REPOS]
identities.append(Identity("token-tampered", "invalid",
                           f"Bearer {parts[0]}.{b64url(json.dumps(tampered).encode())}.{parts[2]}"))
identities.append(Identity("token-tampered-sub", "invalid", "Bearer " + ".".join(
    [parts[0], b64url(json.dumps({**claims_of(writer_token), "sub": "admin"}).encode()),
     parts[2]])))
identities.append(Identity("token-truncated-signature", "invalid",
                           "Bearer " + writer_token[:-4]))


# ---- what a request may leak --------------------------------------------------------------------
def check_no_leak(ident, what, headers, data, path=""):
    """Fails when a response to `ident` names content of other/secret (an echo of what the
    request itself named does not count)."""
    if ident.may("other/secret", "pull"):
        return
    text = data.decode(errors="replace") + json.dumps(headers)
    asked = path + " " + urllib.parse.unquote(path)
    for s in SECRET_STRINGS:
        if s in text and s not in asked:
            fail(f"{ident.name}: {what} mentions '{s}' of other/secret")


def expect(ident, what, status, headers, data, allowed, ok, path=""):
    check_no_leak(ident, what, headers, data, path)
    if ident.kind == "invalid":
        if status != 401:
            fail(f"{ident.name}: {what} -> {status}, want 401 (bad credentials)")
        elif "www-authenticate" not in headers:
            fail(f"{ident.name}: {what} -> 401 without WWW-Authenticate")
        return
    if allowed:
        if status not in ok:
            fail(f"{ident.name}: {what} -> {status} {data[:200]!r}, want {sorted(ok)}")
    elif status not in (401, 403):
        fail(f"{ident.name}: {what} -> {status} {data[:200]!r}, want 401 or 403 (not allowed)")
    elif status == 401 and "www-authenticate" not in headers:
        fail(f"{ident.name}: {what} -> 401 without WWW-Authenticate")


def admin_status(method, path):
    return c.request(method, path, ADMIN)[0]


def new_session(repo):
    st, h, body = c.request("POST", f"/v2/{repo}/blobs/uploads/", ADMIN)
    assert st == 202, f"session in {repo}: {st} {body!r}"
    return h["location"]


def upload_size(location):
    st, h, _ = c.request("GET", location, ADMIN)
    return int(h["range"].split("-")[1]) if st == 204 and h.get("range") != "0-0" else 0


# ---- the matrix ---------------------------------------------------------------------------------
def run_case(ident, repo, name, method, path, action, ok, body=None, extra=None, verify=None):
    headers = dict(extra or {})
    if ident.header is not None:
        headers["Authorization"] = ident.header
    st, h, data = c.request(method, path, headers, body)
    allowed = ident.may(repo, action)
    expect(ident, f"{method} {path} [{name}, {action} on {repo}]", st, h, data, allowed, ok, path)
    if verify:
        problem = verify(allowed and 200 <= st < 300)
        if problem:
            fail(f"{ident.name}: {method} {path} [{name}] -> {st}: {problem}")


def matrix(ident):
    for repo in REPOS:
        seeded = repo in SEEDED
        read_ok = {200} if seeded else {404}
        v1 = V1.get(repo, V1["team/app"])
        layer = sha(LAYERS.get(repo, LAYERS["team/app"]))
        run_case(ident, repo, "tags", "GET", f"/v2/{repo}/tags/list", "pull",
                 read_ok if seeded else {200, 404})
        for ref in ("v1", v1):
            for method in ("GET", "HEAD"):
                run_case(ident, repo, "manifest", method, f"/v2/{repo}/manifests/{ref}", "pull",
                         read_ok)
        for method in ("GET", "HEAD"):
            run_case(ident, repo, "blob", method, f"/v2/{repo}/blobs/{layer}", "pull",
                     read_ok)
        run_case(ident, repo, "referrers", "GET", f"/v2/{repo}/referrers/{v1}", "pull",
                 {200} if seeded else {200, 404})
        # Content of other/secret named through another repository's path is not there.
        for method in ("GET", "HEAD"):
            run_case(ident, repo, "blob of other/secret", method,
                     f"/v2/{repo}/blobs/{MARKERS['other/secret']}", "pull",
                     {200} if repo == "other/secret" else {404})
            run_case(ident, repo, "manifest of other/secret", method,
                     f"/v2/{repo}/manifests/{V1['other/secret']}", "pull",
                     {200} if repo == "other/secret" else {404})

        # manifests PUT: by tag and by digest
        tag = unique("t")
        body = manifest_for(repo, tag)
        put_ok = {201} if seeded else {400}  # a new repository has none of the blobs
        for ref in (tag, sha(body)):
            run_case(ident, repo, "manifest put", "PUT", f"/v2/{repo}/manifests/{ref}", "push",
                     put_ok, body, MANIFEST_HEADERS,
                     lambda done, ref=ref: expect_state(f"/v2/{repo}/manifests/{ref}", done))
        # manifests DELETE by digest and by tag, of a manifest the admin just pushed
        if seeded:
            tag = unique("d")
            body = manifest_for(repo, tag)
            assert put_manifest(repo, tag, body)[0] == 201
            run_case(ident, repo, "manifest delete", "DELETE", f"/v2/{repo}/manifests/{tag}",
                     "delete", {202},
                     verify=lambda done, t=tag: expect_state(f"/v2/{repo}/manifests/{t}", done,
                                                             gone=True))
            run_case(ident, repo, "manifest delete", "DELETE",
                     f"/v2/{repo}/manifests/{sha(body)}", "delete", {202},
                     verify=lambda done, d=sha(body): expect_state(f"/v2/{repo}/manifests/{d}",
                                                                   done, gone=True))
            blob = push_blob(repo, unique("blob-").encode())
            run_case(ident, repo, "blob delete", "DELETE", f"/v2/{repo}/blobs/{blob}", "delete",
                     {202}, verify=lambda done, b=blob: expect_state(f"/v2/{repo}/blobs/{b}", done,
                                                                     gone=True))
        else:
            run_case(ident, repo, "manifest delete", "DELETE", f"/v2/{repo}/manifests/{v1}",
                     "delete", {404})
            run_case(ident, repo, "blob delete", "DELETE", f"/v2/{repo}/blobs/{layer}", "delete",
                     {404})

        # uploads
        for path in (f"/v2/{repo}/blobs/uploads/", f"/v2/{repo}/blobs/uploads"):
            run_case(ident, repo, "upload start", "POST", path, "push", {202})
        data = unique("mono-").encode()
        run_case(ident, repo, "monolithic upload", "POST",
                 f"/v2/{repo}/blobs/uploads/?digest={sha(data)}", "push", {201}, data,
                 verify=lambda done, d=sha(data): expect_state(f"/v2/{repo}/blobs/{d}", done))
        loc = new_session(repo)
        run_case(ident, repo, "upload status", "GET", loc, "push", {204})
        run_case(ident, repo, "upload chunk", "PATCH", loc, "push", {202}, b"chunk",
                 {"Content-Range": "0-4", "Content-Type": "application/octet-stream"},
                 verify=lambda done, l=loc: None if (upload_size(l) == 4) == done
                 else f"upload holds {upload_size(l) + 1} bytes")
        data = unique("put-").encode()
        loc = new_session(repo)
        run_case(ident, repo, "upload close", "PUT",
                 f"{loc}{'&' if '?' in loc else '?'}digest={sha(data)}", "push", {201}, data,
                 {"Content-Type": "application/octet-stream"},
                 verify=lambda done, d=sha(data): expect_state(f"/v2/{repo}/blobs/{d}", done))
        # A session of other/secret, used through this repository's path: unknown here.
        if repo != "other/secret":
            foreign = new_session("other/secret")
            sid = foreign.rstrip("/").split("/")[-1]
            for method, extra, body, ok in (("GET", {}, None, {404}),
                                            ("PATCH", {"Content-Range": "0-4"}, b"chunk", {404}),
                                            ("PUT", {}, b"chunk", {404}),
                                            ("DELETE", {}, None, {404})):
                path = f"/v2/{repo}/blobs/uploads/{sid}"
                if method == "PUT":
                    path += f"?digest={sha(b'chunk')}"
                run_case(ident, repo, "session of other/secret", method, path, "push", ok, body,
                         extra, verify=lambda done, f=foreign: None
                         if admin_status("GET", f) == 204 and upload_size(f) == 0
                         else "the other repository's session was touched")
        loc = new_session(repo)
        run_case(ident, repo, "upload cancel", "DELETE", loc, "push", {204},
                 verify=lambda done, l=loc: None if (admin_status("GET", l) == 404) == done
                 else "the session's state is wrong")
        # cross-repository mount from every source
        for source in SEEDED:
            # A blob of its own for each case: what an earlier mount linked stays linked.
            marker = push_blob(source, unique("mount-").encode())
            mounted = ident.may(source, "pull")
            run_case(ident, repo, f"mount from {source}", "POST",
                     f"/v2/{repo}/blobs/uploads/?mount={marker}&from={source}", "push",
                     {201} if mounted else {202},
                     verify=None if source == repo else lambda done, m=marker, ok=mounted:
                     expect_state(f"/v2/{repo}/blobs/{m}", done and ok))
        # methods the endpoints do not have are refused whoever asks
        for method, path in (("POST", f"/v2/{repo}/manifests/v1"), ("PUT", f"/v2/{repo}/blobs/{layer}"),
                             ("PATCH", f"/v2/{repo}/tags/list"), ("DELETE", f"/v2/{repo}/tags/list"),
                             ("OPTIONS", f"/v2/{repo}/manifests/v1"), ("TRACE", f"/v2/{repo}/tags/list"),
                             ("POST", "/v2/_catalog"), ("DELETE", "/v2/_catalog"),
                             ("HEAD", f"/v2/{repo}/blobs/uploads/")):
            headers = {"Authorization": ident.header} if ident.header else {}
            st, h, d = c.request(method, path, headers)
            check_no_leak(ident, f"{method} {path}", h, d, path)
            if st < 400:
                fail(f"{ident.name}: {method} {path} -> {st}, want an error")


def expect_state(path, should_exist, gone=False):
    """After a write: the object at `path` exists iff the write was allowed (for deletes, the
    object is gone iff it was)."""
    st = admin_status("HEAD", path)
    exists = st == 200
    if gone:
        return None if exists != should_exist else f"after the request, HEAD {path} is {st}"
    return None if exists == should_exist else f"after the request, HEAD {path} is {st}"


def ping(ident):
    headers = {"Authorization": ident.header} if ident.header is not None else {}
    st, h, d = c.request("GET", "/v2/", headers)
    want = 200 if ident.kind in ("user", "token") else 401
    if st != want:
        fail(f"{ident.name}: GET /v2/ -> {st}, want {want}")


def catalog(ident):
    headers = {"Authorization": ident.header} if ident.header is not None else {}
    all_repos = json.loads(c.request("GET", "/v2/_catalog", ADMIN)[2])["repositories"]
    for path in ("/v2/_catalog", "/v2/_catalog?n=1", "/v2/_catalog?n=1&last=other",
                 "/v2/_catalog?n=1000&last=", "/v2/_catalog?last=other%2Fsecre"):
        st, h, d = c.request("GET", path, headers)
        check_no_leak(ident, f"GET {path}", h, d, path)
        if not ident.may_list_catalog():
            if st not in (401, 403):
                fail(f"{ident.name}: GET {path} -> {st} {d[:200]!r}, want 401 or 403")
            continue
        if st != 200:
            fail(f"{ident.name}: GET {path} -> {st}, want 200")
            continue
        listed = json.loads(d)["repositories"]
        visible = [r for r in all_repos if ident.catalog_view(r)]
        extra = [r for r in listed if r not in visible]
        if extra:
            fail(f"{ident.name}: GET {path} lists {extra}, outside its scope")
        if path == "/v2/_catalog" and listed != visible:
            fail(f"{ident.name}: GET {path} lists {listed}, want {visible}")
        if "link" in h and "secret" in h["link"] and not ident.catalog_view("other/secret"):
            fail(f"{ident.name}: GET {path}: Link '{h['link']}' names other/secret")
    # Paging through one at a time shows the same list.
    if ident.may_list_catalog():
        seen, path = [], "/v2/_catalog?n=1"
        while path and len(seen) < 100:
            st, h, d = c.request("GET", path, headers)
            seen += json.loads(d)["repositories"]
            link = h.get("link", "")
            path = link[1:link.index(">")] if link else None
        if seen != [r for r in all_repos if ident.catalog_view(r)]:
            fail(f"{ident.name}: paged catalog {seen}")


def token_endpoint():
    """Tokens grant what the rules allow and no more, for every user and repository."""
    for user in ("reader", "writer", "admin"):
        for r in REPOS + ["team/x/y", "public/other"]:
            tok = get_token(c, basic(user, PASSWORDS[user]), [f"repository:{r}:*"])
            got = {g["name"]: set(g["actions"]) for g in claims_of(tok)["access"]}
            if got.get(r, set()) != user_may(user, r) or set(got) - {r}:
                fail(f"token for {user}, repository:{r}:* grants {got}")
    for auth in (basic("writer", "wrong"), basic("mallory", "x"), "Bearer " + admin_token):
        st, h, _ = c.request("GET", "/token?service=" + SERVICE + "&scope=repository:team/app:pull",
                             {"Authorization": auth})
        if st != 401:
            fail(f"token endpoint with {auth[:20]}…: {st}, want 401")
    # Scopes that are not a repository name: refused, never granted as a pattern.
    for scope in ("repository:team/*:pull", "repository:*:*", "repository:team/../other/secret:pull",
                  "repository:TEAM/APP:pull", "registry:other:*"):
        st, _, d = c.request("GET", "/token?" + urllib.parse.urlencode(
            {"service": SERVICE, "scope": scope}), ADMIN)
        if st == 200 and claims_of(json.loads(d)["token"])["access"]:
            fail(f"scope '{scope}' was granted: {claims_of(json.loads(d)['token'])['access']}")
    st, _, _ = c.request("GET", "/token?service=other-registry&scope=repository:team/app:pull",
                         ADMIN)
    if st == 200:
        fail("a token was issued for another registry's service")


# Paths that try to reach other/secret (or the storage) from elsewhere. None may succeed for an
# identity without rights on other/*, and none may change other/*.
LONG_OK = "team/" + "a" * 250           # 255 bytes: the longest name
LONG_BAD = "team/" + "a" * 251          # 256 bytes
LONG_OTHER = "other/" + "a" * 249       # 255 bytes, outside the writers' scope
# (method, path, the repository and action it really addresses, or None: an error for everyone)
TRICKS = [
    ("GET", "/v2/team/../other/secret/tags/list"),
    ("GET", "/v2/team/app/../../other/secret/tags/list"),
    ("GET", "/v2/team/%2e%2e/other/secret/tags/list"),
    ("GET", "/v2/team%2F..%2Fother%2Fsecret/tags/list"),
    ("GET", "/v2/other%2Fsecret/tags/list", ("other/secret", "pull")),
    ("GET", "/v2/other%2fsecret/manifests/v1", ("other/secret", "pull")),
    ("GET", "/v2/Other/Secret/tags/list"),
    ("GET", "/v2/OTHER/SECRET/manifests/v1"),
    ("GET", "/v2/other/secret/tags/list/"),
    ("GET", "/v2/other/secret//tags/list"),
    ("GET", "/v2//other/secret/tags/list"),
    ("GET", "/v2/./other/secret/tags/list"),
    ("GET", "//v2/other/secret/tags/list"),
    ("GET", "/V2/other/secret/tags/list"),
    ("GET", "/v2/other/secret/manifests/v1/"),
    ("GET", f"/v2/other/secret/manifests/{SECRET_TAG}%2F"),
    ("GET", "/v2/team/app/manifests/..%2F..%2Fother%2Fsecret%2F_manifests%2Ftags%2Fv1"),
    ("GET", "/v2/team/app/manifests/%2e%2e"),
    ("GET", "/v2/team/app%00/../../other/secret/tags/list"),
    ("GET", "/v2/team/app/blobs/..%2F..%2F..%2Fblobs%2Fsha256"),
    ("GET", "/v2/team/app/blobs/uploads/..%2F..%2Frepositories%2Fother%2Fsecret"),
    ("GET", "/v2/_catalog/"),
    ("GET", "/v2/_catalog/../other/secret/tags/list"),
    ("GET", "/v2/team/app/tags/list?name=other/secret", ("team/app", "pull")),
    ("HEAD", "/v2/other/secret/manifests/v1", ("other/secret", "pull")),
    ("POST", "/v2/team/app/blobs/uploads/../../../other/secret/blobs/uploads/"),
    ("POST", "/v2/team/../other/secret/blobs/uploads/?digest=" + sha(b"trick")),
    ("POST", "/v2/other%2Fsecret/blobs/uploads/?digest=" + sha(b"trick"), ("other/secret", "push")),
    ("POST", "/v2/Other/Secret/blobs/uploads/?digest=" + sha(b"trick")),
    ("PUT", "/v2/team/../other/secret/manifests/trick"),
    ("PUT", "/v2/other%2Fsecret/manifests/trick", ("other/secret", "push")),
    ("PUT", "/v2/other/secret/manifests/trick/"),
    ("DELETE", f"/v2/other%2Fsecret/manifests/{SECRET_TAG}", ("other/secret", "delete")),
    ("DELETE", f"/v2/team/../other/secret/manifests/{SECRET_TAG}"),
    ("DELETE", f"/v2/other/secret/manifests/{SECRET_TAG}/"),
    ("DELETE", f"/v2/OTHER/SECRET/manifests/{SECRET_TAG}"),
    ("POST", f"/v2/{LONG_OTHER}/blobs/uploads/?digest=" + sha(b"trick"), (LONG_OTHER, "push")),
    ("POST", f"/v2/{LONG_BAD}/blobs/uploads/?digest=" + sha(b"trick")),
    ("POST", "/v2/team/a___b/blobs/uploads/?digest=" + sha(b"trick")),
    ("POST", "/v2/team/-a/blobs/uploads/?digest=" + sha(b"trick")),
    ("POST", "/v2/team/a./blobs/uploads/?digest=" + sha(b"trick")),
]


def secret_state():
    root = os.path.join(STORAGE, "repositories")
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel.startswith("other") or not rel.startswith(("team", "public", ".")):
            out += [os.path.join(rel, f) for f in filenames]
            out += [os.path.join(rel, d) + "/" for d in dirnames]
    return sorted(out)


def tricks(ident):
    assert put_manifest("other/secret", SECRET_TAG, manifest_for("other/secret", "tagged"))[0] == 201
    before = secret_state()
    for method, path, *target in TRICKS:
        headers = {"Authorization": ident.header} if ident.header is not None else {}
        body = None
        if method in ("POST", "PUT"):
            body = b"trick" if "blobs" in path else manifest_for("team/app", "trick")
            if method == "PUT":
                headers.update(MANIFEST_HEADERS)
        st, h, d = c.request(method, path, headers, body)
        if target:
            repo, action = target[0]
            ok = {202} if method == "DELETE" else {201, 400} if method == "PUT" else \
                {201} if method == "POST" else {200}
            expect(ident, f"{method} {path} [trick, {action} on {repo}]", st, h, d,
                   ident.may(repo, action), ok, path)
            continue
        check_no_leak(ident, f"{method} {path}", h, d, path)
        if 200 <= st < 300:
            fail(f"{ident.name}: {method} {path} -> {st} {d[:200]!r}, want an error")
    if not ident.may("other/secret", "push"):
        after = secret_state()
        if after != before:
            fail(f"{ident.name}: path tricks changed the storage outside team/ and public/: "
                 f"{sorted(set(after) ^ set(before))}")
    # Names at the grammar's length limit work where the rules allow.
    data = unique("long-").encode()
    run_case(ident, LONG_OK, "255-byte name", "POST",
             f"/v2/{LONG_OK}/blobs/uploads/?digest={sha(data)}", "push", {201}, data)
    run_case(ident, LONG_OK, "255-byte name", "GET", f"/v2/{LONG_OK}/blobs/{sha(data)}", "pull",
             {200} if ident.may(LONG_OK, "push") else {404})


start = time.time()
token_endpoint()
for ident in identities:
    ping(ident)
    matrix(ident)
    tricks(ident)
for ident in identities:
    catalog(ident)
# The existence of a repository outside one's scope cannot be told: the answers for other/secret
# and for a repository that does not exist are the same.
for ident in identities:
    if ident.may("other/secret", "pull"):
        continue
    headers = {"Authorization": ident.header} if ident.header is not None else {}
    for suffix in ("/tags/list", "/manifests/v1", f"/blobs/{MARKERS['other/secret']}"):
        a = c.request("GET", "/v2/other/secret" + suffix, headers)
        b = c.request("GET", "/v2/other/nothing" + suffix, headers)
        if a[0] != b[0] or a[2].replace(b"secret", b"nothing") != b[2]:
            fail(f"{ident.name}: GET other/secret{suffix} -> {a[0]} {a[2][:120]!r} but "
                 f"other/nothing{suffix} -> {b[0]} {b[2][:120]!r}: existence leaks")

stop_servers()
print(f"{counted} requests, {len(identities)} identities, {len(failures)} failures, "
      f"{time.time() - start:.1f} s")
sys.exit(1 if failures else 0)
