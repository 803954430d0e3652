"""Renders the Helm chart with the real `helm` and turns the StatefulSet's pod template into
the command line and environment a pod gets, expanding `$(VAR)` references and downward-API
fields as the kubelet does."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "proglog"
# As in chart_types_test.go: the release whose API types the Go test decodes with.
KUBE_VERSION = "1.31.0"


def helm_binary() -> str:
    """helm from PATH, else where scripts/install-deps.sh puts it."""
    candidates = [
        shutil.which("helm"),
        os.path.join(os.environ.get("GOBIN", ""), "helm") if os.environ.get("GOBIN") else None,
        os.path.expanduser("~/go/bin/helm"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("helm not found: run scripts/install-deps.sh (it installs helm into ~/go/bin)")


def render(release: str, namespace: str, *settings: str) -> list[dict]:
    """Every object `helm template` renders with `--set` for each of `settings`."""
    args = [helm_binary(), "template", release, str(CHART), "--namespace", namespace,
            "--kube-version", KUBE_VERSION]
    for setting in settings:
        args += ["--set", setting]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(objects: list[dict], kind: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind]
    assert len(matches) == 1, f"want one {kind}, rendered {len(matches)}"
    return matches[0]


_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined names are replaced, $$ escapes, others stay."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env.get(name, m.group(0))

    return _REF.sub(sub, text)


class Pod:
    """What the kubelet would run in pod `ordinal` of the StatefulSet."""

    def __init__(self, statefulset: dict, ordinal: int, pod_ip: str):
        spec = statefulset["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        self.name = f"{statefulset['metadata']['name']}-{ordinal}"
        self.namespace = statefulset["metadata"]["namespace"]
        self.ip = pod_ip
        fields = {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "status.podIP": pod_ip,
        }
        env: dict[str, str] = {}
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = expand(var["value"], env)
            elif "fieldRef" in var.get("valueFrom", {}):
                env[var["name"]] = fields[var["valueFrom"]["fieldRef"]["fieldPath"]]
            else:
                raise AssertionError(f"env {var['name']}: this test resolves no {var}")
        self.env = env
        self.argv = [expand(a, env) for a in container["command"] + (container.get("args") or [])]
        security = {**spec.get("securityContext", {}), **container.get("securityContext", {})}
        self.uid = security.get("runAsUser", 0)
        self.gid = security.get("runAsGroup", self.uid)
        self.fs_group = spec.get("securityContext", {}).get("fsGroup", self.gid)
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "data"]
        self.data_mount = mount["mountPath"]
        # Secret volumes: mount path -> (Secret name, file mode).
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        self.secret_mounts = {}
        for m in container["volumeMounts"]:
            secret = volumes.get(m["name"], {}).get("secret")
            if secret:
                self.secret_mounts[m["mountPath"]] = (secret["secretName"],
                                                      secret.get("defaultMode", 0o644))
        self.readiness_exec = container.get("readinessProbe", {}).get("exec", {}).get("command")
        self.ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        self.grpc_probes = "grpc" in container.get("readinessProbe", {})
