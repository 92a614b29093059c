"""deploy/kubernetes (PostgreSQL with Docker files): every manifest valid against the
Kubernetes API's schemas, strictly (unknown fields rejected), offline with the
schemas kubernetes-validate ships; and consistent with the image, compose.yaml,
gunicorn.conf.py and the app: the same port, user, commands and probe paths, and
selectors, targets and secrets that name what exists."""

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from helpers import Project

# An older cluster still common in managed offerings, and the newest the
# package knows.
KUBERNETES_VERSIONS = ["1.27.0", "1.37.0"]
FOLDER = Path("deploy/kubernetes")


def manifests(project: Project) -> dict[str, dict]:
    """The resources kustomization.yaml lists, by file name."""
    folder = project.path / FOLDER
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    names = kustomization["resources"]
    return {name: yaml.safe_load((folder / name).read_text()) for name in names}


@pytest.fixture(params=["none", "celery"], ids=["jobs=none", "jobs=celery"])
def project(request: pytest.FixtureRequest, copy: Callable[..., Project]) -> Project:
    return copy(database="postgresql", jobs=request.param)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_kubernetes(project: Project, version: str) -> None:
    resources = manifests(project)
    # kustomization.yaml lists every manifest in the folder.
    on_disk = {path.name for path in (project.path / FOLDER).iterdir()}
    assert on_disk == {*resources, "kustomization.yaml"}
    for path in (project.path / FOLDER).iterdir():
        text = path.read_text()
        assert not re.search(r"{{|{%|\.jinja|[ \t]$", text, re.MULTILINE), path.name
        assert text.endswith("\n"), path.name
        assert not text.endswith("\n\n"), path.name
    for name, resource in resources.items():
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name} against Kubernetes {version}: {error}")


def test_the_validation_catches_a_mistake(project: Project) -> None:
    web = manifests(project)["web.yaml"]
    web["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinessprobe"):
        kubernetes_validate.validate(web, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_manifests_agree_with_the_image_compose_and_the_app(project: Project) -> None:
    resources = manifests(project)
    compose = yaml.safe_load((project.path / "compose.yaml").read_text())["services"]
    dockerfile = (project.path / "Dockerfile").read_text()
    web = resources["web.yaml"]
    pod = web["spec"]["template"]
    container = pod["spec"]["containers"][0]

    # The image's port, user and environment.
    port = int(re.search(r"\bPORT=(\d+)", dockerfile).group(1))
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    uid = int(re.search(r"useradd .*--uid (\d+)", dockerfile).group(1))
    for resource in resources.values():
        spec = resource["spec"].get("template", {}).get("spec")
        if spec is not None:
            assert spec["securityContext"]["runAsUser"] == uid
            assert spec["securityContext"]["runAsNonRoot"] is True
            # The default service account's token, mounted otherwise, would
            # give a process taken over a credential for the cluster's API.
            assert spec["automountServiceAccountToken"] is False
            for each in spec["containers"]:
                assert each["envFrom"] == [{"secretRef": {"name": "flask-service"}}]
                assert each["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "PROXY_COUNT", "value": "1"} in container["env"]

    # Probes ask for the app's own endpoints, by a name TRUSTED_HOSTS always
    # lets in (the generated test_security.py checks that it does).
    routes = (project.path / "src/flask_service/health/routes.py").read_text()
    by_loopback_name = [{"name": "Host", "value": "localhost"}]
    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/health/ready")):
        assert container[probe]["httpGet"] == {
            "path": path,
            "port": "http",
            "httpHeaders": by_loopback_name,
        }
        assert f'@bp.get("{path}")' in routes
    # gunicorn finishes its requests (graceful_timeout) before Kubernetes kills it.
    gunicorn = (project.path / "gunicorn.conf.py").read_text()
    graceful = int(re.search(r"^graceful_timeout = (\d+)$", gunicorn, re.MULTILINE).group(1))
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["spec"]["terminationGracePeriodSeconds"] > graceful + pause

    # The release step is compose's; the Service, the autoscaler and the budget
    # find the web pods.
    migrate = resources["migrate-job.yaml"]["spec"]["template"]["spec"]["containers"][0]
    assert migrate["command"] == compose["migrate"]["command"]
    labels = pod["metadata"]["labels"]
    assert web["spec"]["selector"]["matchLabels"] == labels
    service = resources["service.yaml"]["spec"]
    assert service["selector"] == labels
    assert service["ports"][0]["targetPort"] == "http"
    target = resources["autoscaler.yaml"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", web["metadata"]["name"])
    assert resources["autoscaler.yaml"]["spec"]["minReplicas"] >= 2
    assert resources["disruption-budget.yaml"]["spec"]["selector"]["matchLabels"] == labels

    if "worker" not in compose:
        assert "worker.yaml" not in resources
        return
    worker_pod = resources["worker.yaml"]["spec"]["template"]["spec"]
    worker = worker_pod["containers"][0]
    assert worker["command"] == [*compose["worker"]["command"], "--concurrency", "2"]
    # The worker finishes its jobs, each cut off at CELERY_TASK_TIME_LIMIT,
    # before Kubernetes kills it, as compose's does (test_docker.py).
    config = (project.path / "src/flask_service/config.py").read_text()
    limit = int(re.search(r"^    CELERY_TASK_TIME_LIMIT = (\d+)$", config, re.MULTILINE).group(1))
    assert worker_pod["terminationGracePeriodSeconds"] > limit
    ping = shlex.split(worker["livenessProbe"]["exec"]["command"][-1])
    compose_ping = shlex.split(compose["worker"]["healthcheck"]["test"][1].replace("$$", "$"))
    assert ping[: ping.index("--timeout")] == compose_ping[: compose_ping.index("--timeout")]


def test_only_the_ingress_controller_reaches_the_web_pods(project: Project) -> None:
    """Any pod in the cluster could connect to gunicorn's port past the ingress
    controller and, PROXY_COUNT=1 trusting one proxy, send a forged
    X-Forwarded-For (a new address per login attempt). Every pod of the service
    is now isolated, and the one connection allowed is the controller's, to the
    web pods' named port."""
    resources = manifests(project)
    policies = [each for each in resources.values() if each["kind"] == "NetworkPolicy"]
    assert policies
    for policy in policies:
        assert policy["spec"]["policyTypes"] == ["Ingress"]

    def selects(policy: dict, labels: dict) -> bool:
        wanted = policy["spec"]["podSelector"]["matchLabels"].items()
        return wanted <= labels.items()

    pods = {
        name: resource["spec"]["template"]["metadata"]["labels"]
        for name, resource in resources.items()
        if "template" in resource["spec"]
    }
    assert {"web.yaml", "migrate-job.yaml"} <= pods.keys()
    for name, labels in pods.items():
        # Selected by a policy, a pod takes only what some policy allows.
        assert any(selects(policy, labels) for policy in policies), name
        allowed = [
            rule
            for policy in policies
            if selects(policy, labels)
            for rule in policy["spec"].get("ingress", [])
        ]
        if name != "web.yaml":
            assert allowed == [], name
            continue
        [rule] = allowed
        container = resources["web.yaml"]["spec"]["template"]["spec"]["containers"][0]
        [port] = container["ports"]
        assert rule["ports"] == [{"protocol": "TCP", "port": port["name"]}]
        # The controller's pods in the controller's namespace: both selectors in
        # one peer (two peers would let in every pod of that namespace, and
        # pods of that label in any namespace).
        [peer] = rule["from"]
        assert peer == {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "ingress-nginx",
                    "app.kubernetes.io/component": "controller",
                }
            },
        }
    readme = " ".join((project.path / "README.md").read_text().split())
    assert "network policies that let the ingress controller alone connect" in readme


@pytest.mark.parametrize("answers", [{}, {"database": "postgresql", "docker": False}])
def test_no_kubernetes_without_postgresql_and_docker(
    copy: Callable[..., Project], answers: dict
) -> None:
    """SQLite serves one machine; and without the Dockerfile there is no image."""
    assert not (copy(**answers).path / FOLDER).exists()


# A DNS label, as Kubernetes requires of a Service's name and of label values (a
# Job's name becomes its pods' `job-name` label, so it is held to it too).
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def test_names_and_labels_fit_kubernetes_for_the_longest_slug(
    copy: Callable[..., Project],
) -> None:
    """A long project name derives the longest slug allowed (64 characters); the
    API server refuses names and label values over 63."""
    name = "Northwind Regional Warehouse Inventory and Replenishment Planning Service"
    project = copy(project_name=name, database="postgresql", jobs="celery")
    slug = yaml.safe_load((project.path / ".copier-answers.yml").read_text())["project_slug"]
    assert len(slug) == 64
    too_long = []
    for file, resource in manifests(project).items():
        kind, metadata = resource["kind"], resource["metadata"]
        labelled = [metadata, resource["spec"].get("template", {}).get("metadata", {})]
        values = [value for part in labelled for value in part.get("labels", {}).values()]
        if kind in {"Service", "Job"}:
            values.append(metadata["name"])
        too_long += [f"{file}: {value}" for value in values if not DNS_LABEL.fullmatch(value)]
    assert too_long == []
    # The commands in the Job's comment and in the README name what exists.
    job = manifests(project)["migrate-job.yaml"]["metadata"]["name"]
    service = manifests(project)["service.yaml"]["metadata"]["name"]
    comment = (project.path / FOLDER / "migrate-job.yaml").read_text()
    readme = (project.path / "README.md").read_text()
    assert f"kubectl delete job {job} --ignore-not-found" in comment
    assert f"kubectl delete job {job} --ignore-not-found" in readme
    assert f"Point your Ingress at the `{service}` Service" in readme
