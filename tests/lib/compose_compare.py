#!/usr/bin/env python3
"""Compares `berth compose config --format json` with docker-compose 1.29's `config` (YAML).

Usage: compose_compare.py BERTH_JSON DOCKER_COMPOSE_YAML
Both are reduced to the facts a container is made from, in one canonical form per service
(lists of argv, environment maps, ports expanded one per port, volumes as type/source/target,
durations in ms, sizes in bytes, replicas from scale or deploy), and compared field by field.
Prints each difference as "service.field: berth=... docker-compose=..." and exits 1 if any.
"""
import json
import re
import shlex
import sys

import yaml


def duration_ms(v):
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return int(v * 1000)
    total = 0.0
    for n, unit in re.findall(r"([\d.]+)(h|ms|m|s|us)", v):
        total += float(n) * {"h": 3600e3, "m": 60e3, "s": 1e3, "ms": 1, "us": 1e-3}[unit]
    return int(total)


def size_bytes(v):
    if v is None:
        return None
    if isinstance(v, int):
        return v
    m = re.fullmatch(r"([\d.]+)\s*([kmgKMG]?)[bB]?", str(v))
    return int(float(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()])


def argv(v):
    if v is None:
        return None
    return shlex.split(v) if isinstance(v, str) else [str(x) for x in v]


def mapping(v):
    if v is None:
        return {}
    if isinstance(v, dict):
        return {k: ("" if x is None else str(x)) for k, x in v.items()}
    out = {}
    for item in v:
        k, _, x = item.partition("=")
        out[k] = x
    return out


def ports(v):
    out = []
    for p in v or []:
        if isinstance(p, dict):
            published = str(p.get("published", "") or "")
            out.append((p.get("host_ip", "") or "", published, int(p["target"]), p.get("protocol", "tcp") or "tcp"))
            continue
        text, _, proto = str(p).partition("/")
        parts = text.split(":")
        ip = parts[0] if len(parts) == 3 else ""
        host = parts[-2] if len(parts) >= 2 else ""
        lo, _, hi = parts[-1].partition("-")
        hlo, _, hhi = host.partition("-")
        for k in range(int(lo), int(hi or lo) + 1):
            h = str(int(hlo) + k - int(lo)) if hlo and hhi else hlo
            out.append((ip if ip != "0.0.0.0" else "", h, k, proto or "tcp"))
    return sorted(out)


def volumes(v):
    out = []
    for m in v or []:
        if isinstance(m, dict):
            out.append((m.get("type", "volume"), m.get("source", "") or "", m["target"], bool(m.get("read_only", False))))
            continue
        parts = m.split(":")
        if len(parts) == 1:
            out.append(("volume", "", parts[0], False))
            continue
        kind = "bind" if parts[0].startswith(("/", ".", "~")) else "volume"
        out.append((kind, parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return sorted(out)


def depends(v):
    if v is None:
        return {}
    if isinstance(v, list):
        return {d: "service_started" for d in v}
    return {k: (x or {}).get("condition", "service_started") for k, x in v.items()}


def health(v):
    if not v:
        return None
    if v.get("disable"):
        return {"disable": True}
    test = v.get("test")
    if isinstance(test, str):
        test = ["/bin/sh", "-c", test]
    elif test and test[0] == "CMD-SHELL":
        test = ["/bin/sh", "-c", test[1]]
    elif test and test[0] == "CMD":
        test = test[1:]
    return {
        "test": test,
        "interval": duration_ms(v.get("interval", "30s")),
        "timeout": duration_ms(v.get("timeout", "30s")),
        "start_period": duration_ms(v.get("start_period", "0s")),
        "retries": int(v.get("retries", 3)),
    }


def networks(v):
    if not v:
        return {"default": []}
    if isinstance(v, list):
        return {n: [] for n in v}
    return {n: sorted((c or {}).get("aliases", [])) for n, c in v.items()}


def canonical(s):
    deploy = s.get("deploy") or {}
    limits = (deploy.get("resources") or {}).get("limits") or {}
    tmpfs = s.get("tmpfs") or []
    restart = s.get("restart", "no")
    return {
        "image": s.get("image"),
        "command": argv(s.get("command")),
        "entrypoint": argv(s.get("entrypoint")),
        "environment": mapping(s.get("environment")),
        "ports": ports(s.get("ports")),
        "expose": sorted(str(x) for x in s.get("expose") or []),
        "volumes": volumes(s.get("volumes")),
        # Links start the linked service first, as a dependency does (berth lists them so).
        "depends_on": {**{l.split(":")[0]: "service_started" for l in s.get("links") or []}, **depends(s.get("depends_on"))},
        "healthcheck": health(s.get("healthcheck")),
        "restart": "no" if restart in (None, "no", False) else restart,
        "replicas": int(deploy.get("replicas", s.get("scale", 1))),
        "memory": size_bytes(limits.get("memory", s.get("mem_limit"))),
        "cpus": float(limits["cpus"]) if "cpus" in limits else (float(s["cpus"]) if "cpus" in s else None),
        "pids": limits.get("pids", s.get("pids_limit")),
        "labels": mapping(s.get("labels")),
        "networks": networks(s.get("networks")),
        "links": sorted(s.get("links") or []),
        "user": s.get("user"),
        "working_dir": s.get("working_dir"),
        "hostname": s.get("hostname"),
        "stop_signal": s.get("stop_signal"),
        "stop_grace_period": duration_ms(s.get("stop_grace_period")),
        "read_only": bool(s.get("read_only", False)),
        "init": bool(s.get("init", False)),
        "cap_add": sorted(s.get("cap_add") or []),
        "cap_drop": sorted(s.get("cap_drop") or []),
        "tmpfs": sorted([tmpfs] if isinstance(tmpfs, str) else tmpfs),
        "profiles": sorted(s.get("profiles") or []),
    }


def main():
    with open(sys.argv[1]) as f:
        berth = json.load(f)
    with open(sys.argv[2]) as f:
        peer = yaml.safe_load(f)
    diffs = []
    b_services, p_services = berth.get("services", {}), peer.get("services", {})
    if sorted(b_services) != sorted(p_services):
        diffs.append(f"services: berth={sorted(b_services)} docker-compose={sorted(p_services)}")
    for name in sorted(set(b_services) & set(p_services)):
        b, p = canonical(b_services[name]), canonical(p_services[name])
        for field in b:
            if b[field] != p[field]:
                diffs.append(f"{name}.{field}: berth={b[field]!r} docker-compose={p[field]!r}")
    for d in diffs:
        print(d)
    print(f"{len(b_services)} services compared, {len(diffs)} difference(s)")
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
