"""The checks of deploy/ that need more than a tool's exit status (scripts/deploy_check.sh runs
them after rendering the Kubernetes objects with kustomize and loading the Compose file with
compose-go). One line per check, `ok   ...` or `FAIL ...` with the reasons below it; exits 1 if
any failed.

    checks.py ROOT RENDERED_K8S_YAML COMPOSE_PROJECT_JSON JAEGER_BIN WORKDIR

- every YAML file under deploy/ parses;
- every image has an explicit tag; the Compose file's builds name existing Dockerfile stages
  and its bind mounts existing files;
- the rendered Kubernetes objects' references resolve (ConfigMaps, Service selectors and target
  ports, probe ports, StatefulSet service names);
- the ConfigMaps generated from deploy/collector/ hold exactly those files' bytes;
- every ${env:NAME} a collector configuration reads is set, not empty, for every collector that
  runs it, in compose.yaml and in the Kubernetes objects;
- the collector's own validator (`jaeger validate`) accepts each configuration with the
  environment each of those collectors gets, and refuses it with an unknown setting added (a
  negative control: the validator does check component settings);
- deploy/README.md's snippets: the removed `jaeger` exporter is refused, the OTLP one accepted;
- the values the deployments share with the tested configuration (scripts/cluster.sh) agree;
- deploy/docker/requirements.txt pins what bindings-python/requirements-test.txt pins.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")
IMAGE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]*$")
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}

failures: list[str] = []


def report(what: str, problems: list[str]) -> None:
    print(("ok   " if not problems else "FAIL ") + what, flush=True)
    for p in problems:
        print(f"       {p}", flush=True)
    if problems:
        failures.append(what)


@dataclass
class Collector:
    """One collector that runs a configuration file of deploy/collector/ with an environment."""

    where: str  # e.g. "compose service sampler-1", "Kubernetes StatefulSet sampler"
    config: Path
    env: dict[str, str]
    replicas: int


# ---------------------------------------------------------------------------------------------
# Kubernetes objects


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["spec"]["template"].get("metadata", {}).get("labels", {}))


def k8s_env(
    container: dict[str, Any], obj: dict[str, Any], configmaps: dict[str, dict[str, str]]
) -> dict[str, str]:
    """The environment Kubernetes gives a container: envFrom first, env over it. Downward-API
    fields get a value of the form they have in a pod (a StatefulSet's pod is NAME-0)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            data = configmaps.get(source["configMapRef"]["name"], {})
            env.update({source.get("prefix", "") + k: v for k, v in data.items()})
    pod = obj["metadata"]["name"] + ("-0" if obj["kind"] == "StatefulSet" else "-5d4b9c7f6-x2x9q")
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif "valueFrom" in var:
            ref = var["valueFrom"]
            if "fieldRef" in ref:
                field = ref["fieldRef"]["fieldPath"]
                env[var["name"]] = {
                    "metadata.name": pod,
                    "metadata.namespace": obj["metadata"].get("namespace", "default"),
                }.get(field, "10.0.0.1")
            elif "configMapKeyRef" in ref:
                key = ref["configMapKeyRef"]
                if key["key"] in configmaps.get(key["name"], {}):
                    env[var["name"]] = configmaps[key["name"]][key["key"]]
            else:  # a Secret or a resource field: set, with a value this check cannot know
                env[var["name"]] = "from-" + next(iter(ref))
        else:
            env[var["name"]] = ""
    return env


def check_k8s_refs(objs: list[dict[str, Any]]) -> None:
    problems: list[str] = []
    configmaps = {o["metadata"]["name"] for o in objs if o["kind"] == "ConfigMap"}
    services = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Service"}
    workloads = [o for o in objs if o["kind"] in WORKLOADS]
    for w in workloads:
        name = f"{w['kind']} {w['metadata']['name']}"
        spec = pod_spec(w)
        selector = w["spec"].get("selector", {}).get("matchLabels")
        if selector and not selector.items() <= pod_labels(w).items():
            problems.append(f"{name}: selector {selector} does not match its pod labels")
        for v in spec.get("volumes", []):
            if "configMap" in v and v["configMap"]["name"] not in configmaps:
                problems.append(
                    f"{name}: volume {v['name']}: no ConfigMap {v['configMap']['name']}"
                )
        volumes = {v["name"] for v in spec.get("volumes", [])}
        templates = {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
        for c in spec.get("initContainers", []) + spec["containers"]:
            ports = {p.get("name") for p in c.get("ports", [])} | {
                p["containerPort"] for p in c.get("ports", [])
            }
            for source in c.get("envFrom", []):
                ref = source.get("configMapRef", {}).get("name")
                if ref is not None and ref not in configmaps:
                    problems.append(f"{name}/{c['name']}: envFrom: no ConfigMap {ref}")
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes | templates:
                    problems.append(f"{name}/{c['name']}: mount of undefined volume {m['name']}")
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                action = c.get(probe, {})
                port = (action.get("httpGet") or action.get("tcpSocket") or {}).get("port")
                if isinstance(port, str) and port not in ports:
                    problems.append(f"{name}/{c['name']}: {probe} names no port {port!r}")
        if w["kind"] == "StatefulSet":
            svc = services.get(w["spec"].get("serviceName", ""))
            if svc is None or svc["spec"].get("clusterIP") != "None":
                problems.append(f"{name}: serviceName names no headless Service")
    for s in services.values():
        selector = s["spec"].get("selector", {})
        matched = [w for w in workloads if selector and selector.items() <= pod_labels(w).items()]
        if not matched:
            problems.append(f"Service {s['metadata']['name']}: its selector matches no pods")
            continue
        names = {
            p.get("name")
            for w in matched
            for c in pod_spec(w)["containers"]
            for p in c.get("ports", [])
        } | {
            p["containerPort"]
            for w in matched
            for c in pod_spec(w)["containers"]
            for p in c.get("ports", [])
        }
        for p in s["spec"].get("ports", []):
            if p.get("targetPort", p["port"]) not in names:
                problems.append(
                    f"Service {s['metadata']['name']}: no pod port {p.get('targetPort')}"
                )
    report(
        f"kubernetes: references resolve ({len(workloads)} workloads, {len(services)} Services, "
        f"{len(configmaps)} ConfigMaps)",
        problems,
    )


def generated_configmaps(root: Path) -> dict[str, dict[str, Path]]:
    """deploy/collector/kustomization.yaml's configMapGenerator: name -> {key: file}."""
    kdir = root / "deploy" / "collector"
    k = yaml.safe_load((kdir / "kustomization.yaml").read_text())
    out: dict[str, dict[str, Path]] = {}
    for gen in k.get("configMapGenerator", []):
        files = {}
        for f in gen.get("files", []):
            key, _, path = f.partition("=") if "=" in f else (Path(f).name, "", f)
            files[key] = kdir / path
        out[gen["name"]] = files
    return out


def rendered_name(objs: list[dict[str, Any]], kind: str, base: str) -> dict[str, Any] | None:
    for o in objs:
        if o["kind"] == kind and re.fullmatch(
            re.escape(base) + r"-[a-z0-9]{10}", o["metadata"]["name"]
        ):
            return o
    return None


def check_configmaps(root: Path, objs: list[dict[str, Any]]) -> None:
    problems: list[str] = []
    gens = generated_configmaps(root)
    for name, files in gens.items():
        cm = rendered_name(objs, "ConfigMap", name)
        if cm is None:
            problems.append(f"no ConfigMap {name}-<hash> in the rendered objects")
            continue
        data = cm.get("data", {})
        if set(data) != set(files):
            problems.append(f"{cm['metadata']['name']}: keys {sorted(data)}, want {sorted(files)}")
        for key, path in files.items():
            if key in data and data[key].encode() != path.read_bytes():
                problems.append(
                    f"{cm['metadata']['name']}[{key}] differs from {path.relative_to(root)}"
                )
    report(
        "kubernetes: ConfigMaps " + ", ".join(sorted(gens)) + " hold deploy/collector/'s bytes",
        problems,
    )


def k8s_collectors(root: Path, objs: list[dict[str, Any]]) -> list[Collector]:
    """Every container that runs `--config FILE` with FILE from a ConfigMap generated from
    deploy/collector/."""
    gens = generated_configmaps(root)
    configmaps = {
        o["metadata"]["name"]: o.get("data", {}) for o in objs if o["kind"] == "ConfigMap"
    }
    by_rendered = {}
    for name, files in gens.items():
        cm = rendered_name(objs, "ConfigMap", name)
        if cm is not None:
            by_rendered[cm["metadata"]["name"]] = files
    found = []
    for w in (o for o in objs if o["kind"] in WORKLOADS):
        spec = pod_spec(w)
        volumes = {
            v["name"]: v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v
        }
        for c in spec["containers"]:
            argv = c.get("command", []) + c.get("args", [])
            if "--config" not in argv:
                continue
            path = argv[argv.index("--config") + 1]
            for m in c.get("volumeMounts", []):
                cm = volumes.get(m["name"])
                if cm in by_rendered and str(Path(path).parent) == m["mountPath"].rstrip("/"):
                    source = by_rendered[cm].get(Path(path).name)
                    if source is not None:
                        found.append(
                            Collector(
                                f"Kubernetes {w['kind']} {w['metadata']['name']}",
                                source,
                                k8s_env(c, w, configmaps),
                                int(w["spec"].get("replicas", 1)),
                            )
                        )
    return found


# ---------------------------------------------------------------------------------------------
# Compose


def compose_collectors(project: dict[str, Any]) -> list[Collector]:
    found = []
    for name, svc in project["services"].items():
        argv = (svc.get("entrypoint") or []) + (svc.get("command") or [])
        if "--config" not in argv:
            continue
        path = argv[argv.index("--config") + 1]
        for v in svc.get("volumes", []):
            if v["type"] == "bind" and v["target"] == path:
                env = {
                    k: ("" if val is None else str(val))
                    for k, val in svc.get("environment", {}).items()
                }
                replicas = int((svc.get("deploy") or {}).get("replicas") or 1)
                found.append(Collector(f"compose service {name}", Path(v["source"]), env, replicas))
    return found


def check_compose_files(root: Path, project: dict[str, Any]) -> None:
    problems: list[str] = []
    for name, svc in project["services"].items():
        build = svc.get("build")
        if build:
            context = Path(build["context"])
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            if not dockerfile.is_file():
                problems.append(f"{name}: no Dockerfile {dockerfile}")
            else:
                stages = re.findall(r"(?im)^FROM\s+\S+\s+AS\s+(\S+)\s*$", dockerfile.read_text())
                if build.get("target") and build["target"] not in stages:
                    problems.append(f"{name}: no stage {build['target']!r} in {dockerfile}")
        for v in svc.get("volumes", []):
            if v["type"] == "bind":
                source = Path(v["source"])
                if not source.exists():
                    problems.append(f"{name}: bind mount of missing {source}")
                elif root / "deploy" not in source.parents:
                    problems.append(f"{name}: bind mount from outside deploy/: {source}")
    report("compose: builds name Dockerfile stages that exist; bind-mounted files exist", problems)


# ---------------------------------------------------------------------------------------------
# Both


def check_images(objs: list[dict[str, Any]], project: dict[str, Any]) -> None:
    images = {("compose", n): s.get("image", "") for n, s in project["services"].items()}
    for w in (o for o in objs if o["kind"] in WORKLOADS):
        spec = pod_spec(w)
        for c in spec.get("initContainers", []) + spec["containers"]:
            images[(f"{w['kind']} {w['metadata']['name']}", c["name"])] = c.get("image", "")
    problems = [
        f"{where}: image {image!r}" for where, image in images.items() if not IMAGE.match(image)
    ]
    compose_set = {i for (w, _), i in images.items() if w == "compose"}
    k8s_set = {i for (w, _), i in images.items() if w != "compose"}
    if compose_set != k8s_set:
        problems.append(f"only in compose: {sorted(compose_set - k8s_set)}")
        problems.append(f"only in Kubernetes: {sorted(k8s_set - compose_set)}")
    report(
        f"images: {len(compose_set | k8s_set)} images, each with a tag, the same in both", problems
    )


def check_env_names(root: Path, collectors: list[Collector]) -> None:
    problems: list[str] = []
    configs = sorted((root / "deploy" / "collector").glob("*.yaml"))
    configs = [c for c in configs if c.name != "kustomization.yaml"]
    for config in configs:
        refs = ENV_REF.findall(config.read_text())
        required = sorted({name for name, default in refs if not default})
        users = [c for c in collectors if c.config.resolve() == config.resolve()]
        if not any(u.where.startswith("compose") for u in users):
            problems.append(f"{config.name}: no compose service runs it")
        if not any(u.where.startswith("Kubernetes") for u in users):
            problems.append(f"{config.name}: no Kubernetes workload runs it")
        for u in users:
            missing = [n for n in required if n not in u.env]
            empty = [n for n in required if n in u.env and u.env[n] == ""]
            if missing:
                problems.append(f"{u.where} ({config.name}): not set: {', '.join(missing)}")
            if empty:
                problems.append(f"{u.where} ({config.name}): empty: {', '.join(empty)}")
    names = sorted({n for c in configs for n, _ in ENV_REF.findall(c.read_text())})
    report(
        f"env: the {len(names)} variables deploy/collector/*.yaml read are set for each of "
        f"{len(collectors)} collectors ({', '.join(names)})",
        problems,
    )


def validate(jaeger: str, config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [jaeger, "validate", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def check_validate(jaeger: str, collectors: list[Collector], work: Path) -> None:
    for c in collectors:
        r = validate(jaeger, c.config, c.env)
        # It prints its error twice (stderr and its log): each line once, in order.
        lines = (r.stdout + r.stderr).splitlines()
        errors = list(
            dict.fromkeys(x for x in lines if x.strip() and "application version" not in x)
        )
        report(
            f"collector validate: {c.config.name} with the environment of {c.where}",
            [] if r.returncode == 0 else errors[-8:] or [f"exit status {r.returncode}"],
        )
    # The negative control: the same configuration with an unknown setting must be refused.
    seen: set[Path] = set()
    for c in collectors:
        if c.config in seen:
            continue
        seen.add(c.config)
        cfg = yaml.safe_load(c.config.read_text())
        section = "exporters" if cfg.get("exporters") else "receivers"
        component = next(iter(cfg[section]))
        cfg[section][component] = dict(cfg[section][component] or {}, crosstrace_no_such_setting=1)
        broken = work / f"broken-{c.config.name}"
        broken.write_text(yaml.safe_dump(cfg))
        r = validate(jaeger, broken, c.env)
        refused = r.returncode != 0 and "crosstrace_no_such_setting" in r.stdout + r.stderr
        report(
            f"collector validate refuses {c.config.name} with an unknown {section}.{component} "
            "setting (negative control)",
            [] if refused else [f"exit status {r.returncode}: the validator accepted it"],
        )


def check_readme_snippets(root: Path, jaeger: str, work: Path) -> None:
    """deploy/README.md's note on the removed `jaeger` exporter: its old configuration must be
    refused (the exporter is gone) and its OTLP replacement accepted, by the same validator."""
    readme = (root / "deploy" / "README.md").read_text()
    note = readme.split("`jaeger` exporter is gone", 1)[-1]
    blocks = re.findall(r"```yaml\n(.*?)```", note, re.S)
    problems: list[str] = []
    kinds = []
    for i, block in enumerate(blocks):
        exporters = (yaml.safe_load(block) or {}).get("exporters", {})
        path = work / f"readme-snippet-{i}.yaml"
        path.write_text(block)
        r = validate(jaeger, path, {})
        out = r.stdout + r.stderr
        if "jaeger" in exporters:
            kinds.append("old")
            if r.returncode == 0 or 'unknown type: "jaeger"' not in out:
                problems.append(f"snippet {i + 1} (jaeger exporter) was not refused as unknown")
        else:
            kinds.append("otlp")
            if r.returncode != 0:
                problems.append(
                    f"snippet {i + 1} (otlp exporter) was refused: {out.strip()[-300:]}"
                )
    if sorted(kinds) != ["old", "otlp"]:
        problems.append(f"want one jaeger-exporter and one otlp snippet, found {kinds}")
    report(
        "README: the jaeger exporter snippet is refused (unknown type), its OTLP replacement "
        "validates",
        problems,
    )


def check_mirror(
    root: Path, collectors: list[Collector], objs: list[dict[str, Any]], project: dict[str, Any]
) -> None:
    """The values the deployments share with the tested configuration (scripts/cluster.sh)."""
    problems: list[str] = []
    cluster = (root / "scripts" / "cluster.sh").read_text()
    defaults = dict(re.findall(r'([A-Z_]+)="\$\{[A-Z_]+:-([^}]*)\}"', cluster))
    partitions = re.search(r"KAFKA_PARTITIONS=(\d+)", cluster)
    jaeger_module = re.search(r"JAEGER_VERSION:-v1\.(\d+)\.0", cluster)
    for c in collectors:
        for name in ("KAFKA_TOPIC", "TAIL_DECISION_WAIT", "TAIL_SLOW_MS", "TAIL_KEEP_PERCENT"):
            if name in c.env and name in defaults and c.env[name] != defaults[name]:
                problems.append(
                    f"{c.where}: {name}={c.env[name]}, scripts/cluster.sh: {defaults[name]}"
                )
    for config, want in (("ingest.yaml", 2), ("sampler.yaml", 2), ("jaeger.yaml", 1)):
        for side in ("compose", "Kubernetes"):
            n = sum(
                c.replicas
                for c in collectors
                if c.config.name == config and c.where.startswith(side)
            )
            if n != want:
                problems.append(f"{side}: {n} collectors run {config}, the tested tier has {want}")
    cargo = (root / "Cargo.toml").read_text()
    version = re.search(r'(?m)^version = "([^"]+)"', cargo)[1]
    images = [s.get("image", "") for s in project["services"].values()] + [
        c.get("image", "")
        for o in objs
        if o["kind"] in WORKLOADS
        for c in pod_spec(o)["containers"]
    ]
    for image in images:
        repo, _, tag = image.partition(":")
        if repo == "apache/kafka" and tag != defaults.get("KAFKA_VERSION"):
            problems.append(
                f"{image}: scripts/cluster.sh runs Kafka {defaults.get('KAFKA_VERSION')}"
            )
        # The services' images are built from this repository: tagged with its version, which
        # is also what a registry holds them under (never `latest`, which Kubernetes pulls
        # again on every start).
        if repo.startswith("crosstrace/") and tag != version:
            problems.append(f"{image}: the repository's version is {version}")
        # Jaeger v2.N is its Go module's v1.(N+63): 2.13.0 is the v1.76.0 scripts/jaeger.sh builds.
        if repo == "jaegertracing/jaeger" and jaeger_module:
            want = f"2.{int(jaeger_module.group(1)) - 63}.0"
            if tag != want:
                problems.append(f"{image}: the tested collectors are Jaeger {want}")
    topic_args = [
        s.get("command") or []
        for s in project["services"].values()
        if "--partitions" in (s.get("command") or [])
    ] + [
        c.get("command", []) + c.get("args", [])
        for o in objs
        if o["kind"] in WORKLOADS
        for c in pod_spec(o)["containers"]
        if "--partitions" in c.get("command", []) + c.get("args", [])
    ]
    if len(topic_args) != 2:
        problems.append(f"{len(topic_args)} topic-creating commands, want one in each")
    for argv in topic_args:
        got = (argv[argv.index("--partitions") + 1], argv[argv.index("--topic") + 1])
        want_topic = defaults.get("KAFKA_TOPIC")
        if partitions is None or got != (partitions.group(1), want_topic):
            problems.append(
                f"topic {got[1]} x {got[0]} partitions; tested: {want_topic} x "
                f"{partitions.group(1) if partitions else '?'}"
            )
    report(
        "mirror: Kafka and Jaeger versions, topic and partitions, tail policy and the number of "
        "collectors agree with scripts/cluster.sh",
        problems,
    )


def check_pins(root: Path) -> None:
    def pins(path: Path) -> dict[str, str]:
        out = {}
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                out[re.sub(r"\[.*\]", "", name).lower()] = version.strip()
        return out

    ours = pins(root / "deploy" / "docker" / "requirements.txt")
    tested = pins(root / "bindings-python" / "requirements-test.txt")
    problems = [
        f"{n}=={v}, the tests pin {tested.get(n, 'nothing')}"
        for n, v in ours.items()
        if tested.get(n) != v
    ]
    report(
        f"docker: the {len(ours)} runtime pins equal bindings-python/requirements-test.txt's",
        problems,
    )


def check_yaml(root: Path) -> None:
    files = sorted(p for p in (root / "deploy").rglob("*") if p.suffix in (".yaml", ".yml"))
    problems = []
    docs = 0
    for f in files:
        try:
            docs += sum(1 for d in yaml.safe_load_all(f.read_text()) if d is not None)
        except yaml.YAMLError as e:
            problems.append(f"{f.relative_to(root)}: {e}")
    report(f"yaml: {len(files)} files under deploy/ parse ({docs} documents)", problems)


def main() -> int:
    root, rendered, project_json, jaeger, work = sys.argv[1:6]
    rootp = Path(root).resolve()
    check_yaml(rootp)
    objs = [o for o in yaml.safe_load_all(Path(rendered).read_text()) if o]
    project = json.loads(Path(project_json).read_text())
    check_images(objs, project)
    check_compose_files(rootp, project)
    check_k8s_refs(objs)
    check_configmaps(rootp, objs)
    collectors = compose_collectors(project) + k8s_collectors(rootp, objs)
    check_env_names(rootp, collectors)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        check_validate(jaeger, collectors, Path(tmp))
        check_readme_snippets(rootp, jaeger, Path(tmp))
    check_mirror(rootp, collectors, objs, project)
    check_pins(rootp)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
