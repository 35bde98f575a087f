"""Static checks: the Kubernetes manifests are valid (strict schema of recent
Kubernetes versions) and agree with each other and with Jeton's drain timeout;
compose.yaml has two replicas behind nginx; the Dockerfile has what a
production image needs; the config files are ones `jeton serve` accepts."""
import fnmatch
import glob
import os
import re
import subprocess

import pytest
import yaml
from kubernetes_validate import utils as kv

from conftest import DEPLOY, path, read

K8S = os.path.join(DEPLOY, "kubernetes")
MANIFESTS = sorted(f for f in glob.glob(os.path.join(K8S, "*.yaml"))
                   if os.path.basename(f) != "kustomization.yaml")
# The newest schema kubernetes-validate ships and the oldest still-supported
# release the manifests target.
VERSIONS = sorted({kv.latest_version(), "1.30.0"})


def documents(f):
    with open(f) as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


def resources():
    out = {}
    for f in MANIFESTS:
        for d in documents(f):
            out[d["kind"]] = d
    return out


def seconds(value):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m)?", str(value).strip())
    assert m, f"cannot read a duration from {value!r}"
    return float(m.group(1)) * (60 if m.group(2) == "m" else 1)


# --- Kubernetes ------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("manifest", [os.path.basename(f) for f in MANIFESTS])
def test_kubernetes_manifest_is_valid_strict(manifest, version):
    docs = documents(os.path.join(K8S, manifest))
    assert docs, f"{manifest} is empty"
    for d in docs:
        # Raises ValidationError on any schema violation or unknown field.
        kv.validate(d, version, strict=True)


def test_kubernetes_has_the_expected_resources():
    r = resources()
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ConfigMap"} <= set(r)
    assert r["HorizontalPodAutoscaler"]["apiVersion"] == "autoscaling/v2"
    kust = yaml.safe_load(read("deploy", "kubernetes", "kustomization.yaml"))
    assert sorted(kust["resources"]) == sorted(os.path.basename(f) for f in MANIFESTS)


def test_kubernetes_objects_point_at_each_other():
    r = resources()
    dep = r["Deployment"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for kind in ("Service", "PodDisruptionBudget"):
        sel = r[kind]["spec"]["selector"]
        sel = sel.get("matchLabels", sel)
        assert sel.items() <= labels.items(), f"{kind} selects no Jeton pod"
    target = r["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", dep["metadata"]["name"])
    pod = dep["spec"]["template"]["spec"]
    cm = [v for v in pod["volumes"] if "configMap" in v]
    assert cm and cm[0]["configMap"]["name"] == r["ConfigMap"]["metadata"]["name"]
    assert "jeton.yaml" in r["ConfigMap"]["data"]
    assert r["Service"]["spec"]["ports"][0]["targetPort"] in ("http", 8080)
    # The autoscaler owns the replica count: one in the Deployment would reset it on every apply.
    assert "replicas" not in dep["spec"]
    assert r["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2


def test_nginx_retries_on_503_but_hands_429_to_the_client():
    # nginx counts every status it retries on as a failed attempt (max_fails): retried 429s
    # (one key over its per-replica rate limit) would mark every replica down for everyone.
    lines = [l.split("#")[0].replace(";", " ").split() for l in read("deploy", "nginx", "jeton.conf").splitlines()]
    directive = [l for l in lines if l and l[0] == "proxy_next_upstream"]
    assert directive and all("http_503" in d[2:] and "http_429" not in " ".join(d) for d in directive)


def container():
    return resources()["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def env(c):
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def test_deployment_probes_and_graceful_shutdown():
    dep = resources()["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    c = container()
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    # One late answer under a busy CPU quota must not pull a serving pod out of the Service.
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe].get("failureThreshold", 3) >= 2, probe
    pre = c["lifecycle"]["preStop"]
    sleep = pre["sleep"]["seconds"] if "sleep" in pre else float(pre["exec"]["command"][-1])
    assert 1 <= sleep <= 15
    drain = float(env(c)["JETON_SERVER_DRAIN_TIMEOUT"])
    grace = pod["terminationGracePeriodSeconds"]
    # SIGTERM comes after preStop, and the drain must end before SIGKILL.
    assert grace >= sleep + drain + 5, (grace, sleep, drain)
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_deployment_security_and_resources():
    pod = resources()["Deployment"]["spec"]["template"]["spec"]
    c = container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    uid = pod["securityContext"]["runAsUser"]
    assert uid != 0
    assert re.search(rf"ARG JETON_UID={uid}\b", read("Dockerfile")), "pod uid differs from the image's"
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    res = c["resources"]
    for k in ("cpu", "memory"):
        assert k in res["requests"] and k in res["limits"]
    # Forward-pass threads match the CPU limit (else they spin on a 2-CPU quota).
    assert env(c)["JETON_MODEL_THREADS"] == str(res["limits"]["cpu"])
    assert [p["containerPort"] for p in c["ports"]] == [8080]


# --- compose -------------------------------------------------------------------------

def compose():
    return yaml.safe_load(read("deploy", "compose.yaml"))


def test_compose_has_two_replicas_behind_nginx():
    svc = compose()["services"]
    replicas = sorted(n for n in svc if n.startswith("jeton-"))
    assert replicas == ["jeton-1", "jeton-2"]
    conf = read("deploy", "nginx", "jeton.conf")
    upstream = re.findall(r"^\s*server\s+([\w.-]+:\d+)", conf, re.M)
    assert upstream == ["jeton-1:8080", "jeton-2:8080"], upstream
    nginx = svc["nginx"]
    mounts = nginx["volumes"]
    assert any(m.split(":")[0] == "./nginx/jeton.conf" for m in mounts)
    assert os.path.exists(os.path.join(DEPLOY, "nginx", "jeton.conf"))
    assert set(nginx["depends_on"]) == set(replicas)
    for name in replicas:
        r = svc[name]
        assert "jeton" in r["image"]
        assert r["healthcheck"]["test"][:2] == ["CMD", "jeton-healthcheck"]
        drain = float(r["environment"]["JETON_SERVER_DRAIN_TIMEOUT"])
        assert seconds(r["stop_grace_period"]) > drain
        assert any(re.search(r":/models(:ro)?$", v) for v in r.get("volumes", [])), "no model volume"


# --- Dockerfile ----------------------------------------------------------------------

def dockerignored(src, patterns):
    """Docker's rule: the last pattern matching the path or one of its parents
    decides; `!` re-includes."""
    parts = src.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat.lstrip("!").lstrip("/")
        pats = [pat, pat[3:]] if pat.startswith("**/") else [pat]
        if any(fnmatch.fnmatch(p, q) for p in prefixes for q in pats):
            excluded = not neg
    return excluded


def test_dockerfile_essentials():
    d = read("Dockerfile")
    assert re.search(r"^ARG SWIFT_IMAGE=swift:6", d, re.M)
    assert re.search(r"^ARG RUNTIME_IMAGE=debian:bookworm-slim", d, re.M)
    assert re.search(r"^ARG FETCH_MODEL=0", d, re.M)
    assert len(re.findall(r"^FROM ", d, re.M)) >= 2, "not multi-stage"
    assert "--static-swift-stdlib" in d
    users = re.findall(r"^USER (\S+)", d, re.M)
    assert users and not users[-1].startswith(("0", "root"))
    assert re.search(r"^EXPOSE 8080", d, re.M)
    assert re.search(r"^HEALTHCHECK .*jeton-healthcheck", d, re.M)
    assert re.search(r'^ENTRYPOINT \["jeton"\]', d, re.M)
    # Everything COPY takes from the context exists and is not .dockerignored.
    ignore = [l.strip() for l in read(".dockerignore").splitlines() if l.strip() and not l.startswith("#")]
    for src in re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+) \S+$", d, re.M):
        if "*" in src or src == ".":
            continue
        assert os.path.exists(path(src)), src
        assert not dockerignored(src, ignore), f"{src} is excluded by .dockerignore"
    for must in (".git", ".build", "**/*.gguf"):
        assert must in ignore, f".dockerignore should exclude {must}"


def test_healthcheck_script_is_executable_bash():
    f = path("deploy", "docker", "healthcheck.sh")
    assert os.access(f, os.X_OK)
    subprocess.run(["bash", "-n", f], check=True)


# --- the config files are ones jeton accepts ---------------------------------------------

def print_config(jeton, config_text, env_vars, tmp_path):
    cfg = tmp_path / "jeton.yaml"
    cfg.write_text(config_text)
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_")}
    e.update({k: str(v) for k, v in env_vars.items()})
    p = subprocess.run([jeton, "serve", "--config", str(cfg), "--print-config"],
                       env=e, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr + p.stdout
    return p.stdout


def test_image_config_is_accepted(jeton_bin, tmp_path):
    out = print_config(jeton_bin, read("deploy", "docker", "jeton.yaml"),
                       {"JETON_MODELS": "/models", "JETON_SERVER_HOST": "0.0.0.0"}, tmp_path)
    assert re.search(r"^  host: 0\.0\.0\.0", out, re.M)
    assert re.search(r"^  port: 8080", out, re.M)


def test_kubernetes_config_and_env_are_accepted(jeton_bin, tmp_path):
    r = resources()
    e = {k: v for k, v in env(container()).items() if k.startswith("JETON_")}
    out = print_config(jeton_bin, r["ConfigMap"]["data"]["jeton.yaml"], e, tmp_path)
    assert "drain_timeout: 30.0  # from JETON_SERVER_DRAIN_TIMEOUT" in out
    assert "/models/SmolLM2-135M-Instruct.Q4_1.gguf" in out


def test_compose_env_is_accepted(jeton_bin, tmp_path):
    e = compose()["services"]["jeton-1"]["environment"]
    print_config(jeton_bin, read("deploy", "docker", "jeton.yaml"), e, tmp_path)
