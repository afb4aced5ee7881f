"""Production capabilities: each is switched by config, on in prod, and fails a test
when it breaks."""

from __future__ import annotations

import math

from tests.conftest import statefulset_program_run
from tests.harness import ProgramRun, Registration, run_main, stack_file

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
CRONJOB = "kubernetes:batch/v1:CronJob"
JOB = "kubernetes:batch/v1:Job"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SERVICE = "kubernetes:core/v1:Service"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"


def _config(stack: str, key: str) -> object:
    return stack_file(stack)["config"][f"webapp:{key}"]


def _deployment(run: ProgramRun) -> Registration:
    (deployment,) = run.of_type(DEPLOYMENT)
    return deployment


def _pod_labels(manifest: dict) -> dict:
    return manifest["spec"]["template"]["metadata"]["labels"]


def _policy(run: ProgramRun, name: str) -> dict:
    return run.one(NETPOL, name).manifest()["spec"]


# --- autoscaling -------------------------------------------------------------------------


def test_prod_autoscales_within_its_configured_bounds(prod_run: ProgramRun) -> None:
    (hpa,) = prod_run.of_type(HPA)
    spec = hpa.manifest()["spec"]
    deployment = _deployment(prod_run).manifest()
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert spec["minReplicas"] == _config("prod", "minReplicas")
    assert spec["maxReplicas"] == _config("prod", "maxReplicas")
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in spec["metrics"]}
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": _config("prod", "targetCpuPercent")},
        "memory": {
            "type": "Utilization",
            "averageUtilization": _config("prod", "targetMemoryPercent"),
        },
    }


def test_pulumi_leaves_the_replica_count_to_the_autoscaler(
    dev_run: ProgramRun, prod_run: ProgramRun
) -> None:
    """With an autoscaler, a later `pulumi up` must not reset the count it chose."""
    assert "spec.replicas" in _deployment(prod_run).ignore_changes
    assert _deployment(prod_run).manifest()["spec"]["replicas"] == _config("prod", "minReplicas")
    assert dev_run.of_type(HPA) == []
    assert _deployment(dev_run).ignore_changes == []


# --- disruption --------------------------------------------------------------------------


def test_multi_replica_app_has_a_budget_that_still_lets_nodes_drain(prod_run: ProgramRun) -> None:
    (pdb,) = prod_run.of_type(PDB)
    spec = pdb.manifest()["spec"]
    assert spec["maxUnavailable"] == 1 and "minAvailable" not in spec
    assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    pods = _pod_labels(_deployment(prod_run).manifest())
    assert spec["selector"]["matchLabels"].items() <= pods.items()


def test_single_replica_app_has_no_budget(dev_run: ProgramRun) -> None:
    """A budget over one pod would either block every drain or protect nothing."""
    assert dev_run.of_type(PDB) == []


def test_two_fixed_replicas_get_a_budget() -> None:
    run = run_main("dev", {"webapp:replicas": "2"})
    assert len(run.of_type(PDB)) == 1


def test_app_pods_spread_over_nodes_and_zones(stack_run: ProgramRun) -> None:
    deployment = _deployment(stack_run).manifest()
    constraints = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in constraints} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    for constraint in constraints:
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
        assert constraint["labelSelector"]["matchLabels"].items() <= _pod_labels(deployment).items()


# --- graceful rollout --------------------------------------------------------------------


def test_rollout_keeps_old_pods_until_new_ones_are_ready(stack_run: ProgramRun) -> None:
    spec = _deployment(stack_run).manifest()["spec"]
    configured = stack_run.config["webapp:maxSurge"]
    max_surge = configured if configured.endswith("%") else int(configured)
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": max_surge, "maxUnavailable": 0}
    assert spec["minReadySeconds"] > 0


def surge(replicas: int, max_surge: int | str) -> int:
    """Kubernetes rounds a percentage surge up (deployment controller, maxSurge)."""
    if isinstance(max_surge, str):
        return math.ceil(replicas * int(max_surge.rstrip("%")) / 100)
    return max_surge


def test_a_prod_rollout_at_its_largest_takes_at_most_four_waves(prod_run: ProgramRun) -> None:
    """One pod at a time, a rollout of 10 replicas took 10 waves of pod start plus
    minReadySeconds; a share of the replicas surges together."""
    rolling = _deployment(prod_run).manifest()["spec"]["strategy"]["rollingUpdate"]
    most = _config("prod", "maxReplicas")
    assert most == 10
    assert math.ceil(most / surge(most, rolling["maxSurge"])) <= 4
    assert rolling["maxUnavailable"] == 0


def test_max_surge_is_configurable() -> None:
    run = run_main("dev", {"webapp:maxSurge": "2"})
    rolling = _deployment(run).manifest()["spec"]["strategy"]["rollingUpdate"]
    assert rolling == {"maxSurge": 2, "maxUnavailable": 0}


def test_stopping_pods_drain_before_shutdown(stack_run: ProgramRun) -> None:
    pod = _deployment(stack_run).manifest()["spec"]["template"]["spec"]
    # The app's container; sidecars (webapp:sidecars) stop with the pod.
    container = next(c for c in pod["containers"] if c["name"] == "web")
    drain = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert drain == int(stack_run.config["webapp:drainSeconds"])
    assert pod["terminationGracePeriodSeconds"] > drain


def _config_or_default(stack: str, key: str, default: object) -> object:
    return (stack_file(stack).get("config") or {}).get(f"webapp:{key}", default)


# --- ingress and exposure ----------------------------------------------------------------


def test_prod_ingress_routes_its_host_to_the_app_with_tls(prod_run: ProgramRun) -> None:
    (ingress,) = prod_run.of_type(INGRESS)
    manifest = ingress.manifest()
    host = _config("prod", "ingressHost")
    assert manifest["metadata"]["annotations"] == {
        "cert-manager.io/cluster-issuer": _config("prod", "ingressClusterIssuer")
    }
    assert manifest["spec"]["ingressClassName"] == _config("prod", "ingressClass")
    assert manifest["spec"]["tls"] == [{"hosts": [host], "secretName": "webapp-tls"}]
    (rule,) = manifest["spec"]["rules"]
    assert rule["host"] == host
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = prod_run.one(SERVICE, "webapp-service").manifest()
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert prod_run.outputs["url"].value == f"https://{host}/"


def test_app_behind_an_ingress_admits_only_the_ingress_controller() -> None:
    run = run_main("dev", {"webapp:ingressHost": "dev.example.com"})
    (rule,) = _policy(run, "webapp-netpol")["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
    assert run.outputs["url"].value == "http://dev.example.com/"


def test_app_without_ingress_admits_its_own_namespace_on_its_port() -> None:
    run = run_main("dev", {"webapp:ingressHost": "", "webapp:serviceType": "ClusterIP"})
    (rule,) = _policy(run, "webapp-netpol")["ingress"]
    assert rule["from"] == [{"podSelector": {}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]


def test_load_balancer_carries_the_explicit_allow() -> None:
    from components._shared.metadata import ALLOW_LOAD_BALANCER_ANNOTATION

    load_balanced = run_main(
        "dev",
        {
            "webapp:ingressHost": "",
            "webapp:serviceType": "LoadBalancer",
            "webapp:allowLoadBalancer": "true",
        },
    )
    service = load_balanced.one(SERVICE, "webapp-service").manifest()
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["metadata"]["annotations"] == {ALLOW_LOAD_BALANCER_ANNOTATION: "true"}
    internal = run_main("dev", {"webapp:ingressHost": "", "webapp:serviceType": "ClusterIP"})
    assert "annotations" not in internal.one(SERVICE, "webapp-service").manifest()["metadata"]


# --- backups and restore -----------------------------------------------------------------


def test_backups_run_on_schedule_keep_n_dumps_and_read_the_password_by_reference(
    statefulset_run: ProgramRun,
) -> None:
    (cronjob,) = statefulset_run.of_type(CRONJOB)
    spec = cronjob.manifest()["spec"]
    assert spec["schedule"] == _config_or_default(
        statefulset_run.stack, "backupSchedule", "0 3 * * *"
    )
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    container = (pod.get("initContainers") or pod["containers"])[0]
    assert container["name"] == "dump"
    env = {e["name"]: e for e in container["env"]}
    assert env["KEEP"]["value"] == str(_config(statefulset_run.stack, "backupRetain"))
    password = env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]
    database_secret = statefulset_run.one("kubernetes:core/v1:Secret", "webapp-db-credentials")
    assert password == {
        "name": database_secret.manifest()["metadata"]["name"],
        "key": "password",
    }
    assert env["PGHOST"]["value"] == "webapp-db" and container["image"].startswith("postgres:")
    claim = statefulset_run.one(PVC, "webapp-db-backups").manifest()
    assert claim["spec"]["resources"]["requests"]["storage"] == _config(
        statefulset_run.stack, "backupStorageSize"
    )
    volume = next(v for v in pod["volumes"] if "persistentVolumeClaim" in v)
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def test_backup_pods_may_reach_the_database_and_nothing_else(statefulset_run: ProgramRun) -> None:
    (cronjob,) = statefulset_run.of_type(CRONJOB)
    backup_labels = cronjob.manifest()["spec"]["jobTemplate"]["spec"]["template"]["metadata"][
        "labels"
    ]
    database_rules = _policy(statefulset_run, "webapp-db-netpol")["ingress"]
    admitted = [
        rule
        for rule in database_rules
        if any(
            peer.get("podSelector", {}).get("matchLabels", {}).items() <= backup_labels.items()
            and "podSelector" in peer
            for peer in rule["from"]
        )
    ]
    assert admitted and admitted[0]["ports"] == [{"protocol": "TCP", "port": 5432}]
    egress = _policy(statefulset_run, "webapp-db-backup-netpol")
    assert egress["podSelector"]["matchLabels"].items() <= backup_labels.items()
    database_pods = _pod_labels(
        statefulset_run.one(STATEFULSET, "webapp-db-statefulset").manifest()
    )
    to_database, to_dns = egress["egress"][:2]
    assert to_database["to"][0]["podSelector"]["matchLabels"].items() <= database_pods.items()
    assert {p["port"] for p in to_dns["ports"]} == {53}


def test_restore_job_exists_only_when_asked_for(dev_run: ProgramRun) -> None:
    assert dev_run.of_type(JOB) == []
    run = run_main("dev", {"webapp:restoreFrom": "app-20261125T030000Z.dump"})
    (job,) = run.of_type(JOB)
    pod = job.manifest()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RESTORE_FILE"] == "app-20261125T030000Z.dump"
    assert "DROP OWNED BY CURRENT_USER" in container["command"][-1]
    assert run.outputs["restoreJob"].value == job.manifest()["metadata"]["name"]


# --- metrics -----------------------------------------------------------------------------


def test_exporter_runs_beside_the_database_scraped_one_way_only(
    statefulset_run: ProgramRun,
) -> None:
    """Annotations for annotation-based scraping only without a ServiceMonitor (prod has
    one): a Prometheus that reads both would scrape the exporter twice."""
    template = statefulset_run.one(STATEFULSET, "webapp-db-statefulset").manifest()["spec"][
        "template"
    ]
    annotations = template["metadata"].get("annotations")
    if statefulset_run.of_type(SERVICE_MONITOR):
        assert annotations is None
    else:
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "9187",
            "prometheus.io/path": "/metrics",
        }
    exporter = next(c for c in template["spec"]["containers"] if c["name"] == "exporter")
    env = {e["name"]: e.get("value") for e in exporter["env"]}
    assert env["DATA_SOURCE_PASS_FILE"] == "/run/secrets/exporter/password"
    assert "DATA_SOURCE_PASS" not in env
    assert exporter["ports"] == [{"name": "metrics", "containerPort": 9187}]
    scrape_rule = _policy(statefulset_run, "webapp-db-netpol")["ingress"][-1]
    assert scrape_rule["ports"] == [{"protocol": "TCP", "port": 9187}]
    assert scrape_rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }


def test_scrape_annotations_come_back_without_the_service_monitor() -> None:
    run = run_main(
        "prod",
        {
            "webapp:serviceMonitor": "false",
            "webapp:alertsEnabled": "false",
            "webapp:dbEngine": "statefulset",
        },
    )
    template = run.one(STATEFULSET, "webapp-db-statefulset").manifest()["spec"]["template"]
    assert template["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert run.of_type(SERVICE_MONITOR) == []


def test_service_monitor_selects_the_metrics_service(
    prod_run: ProgramRun, dev_run: ProgramRun
) -> None:
    """With the statefulset engine (prod's settings, that engine), a ServiceMonitor for
    the exporter's Service; prod itself scrapes its CNPG instances through a PodMonitor."""
    statefulset_prod = statefulset_program_run("prod-statefulset")
    (monitor,) = statefulset_prod.of_type(SERVICE_MONITOR)
    spec = monitor.manifest()["spec"]
    service = statefulset_prod.one(SERVICE, "webapp-db-metrics").manifest()
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert spec["namespaceSelector"] == {"matchNames": ["webapp-prod"]}
    assert spec["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    # Matches only the metrics Service, not the database's other Services.
    others = [s for s in statefulset_prod.of_type(SERVICE) if s.name != "webapp-db-metrics"]
    for other in others:
        assert (
            not spec["selector"]["matchLabels"].items()
            <= other.manifest()["metadata"]["labels"].items()
        )
    assert dev_run.of_type(SERVICE_MONITOR) == []
    assert prod_run.of_type(SERVICE_MONITOR) == []
    (pod_monitor,) = prod_run.of_type(POD_MONITOR)
    assert pod_monitor.manifest()["spec"]["selector"]["matchLabels"]["cnpg.io/cluster"] == (
        "webapp-db"
    )


# --- data safety -------------------------------------------------------------------------


def test_prod_data_survives_destroy_replacement_and_deletion(prod_run: ProgramRun) -> None:
    """Protected: `pulumi destroy` and any replacement stop instead of deleting; retained:
    deleted through Pulumi after unprotecting, they stay in the cluster. Prod's data is
    in the CloudNativePG Cluster, whose volumes the operator makes and keeps with it; the
    namespace is protected too, since deleting it would delete every volume in it. No
    volume of the built-in server is left in prod."""
    guarded = prod_run.of_type(CLUSTER) + prod_run.of_type("kubernetes:core/v1:Namespace")
    assert len(guarded) == 2
    for record in guarded:
        assert record.protect and record.retain_on_delete, record.name
    assert prod_run.of_type(PVC) == []
    assert prod_run.of_type(STATEFULSET) == []
    assert prod_run.of_type(CRONJOB) == []


def test_data_of_the_statefulset_engine_survives_with_protect_data() -> None:
    """The claims are not volumeClaimTemplates, so deleting the StatefulSet leaves them."""
    run = statefulset_program_run("prod-statefulset")
    guarded = run.of_type(PVC) + run.of_type("kubernetes:core/v1:Namespace")
    assert len(guarded) == 3
    for record in guarded:
        assert record.protect and record.retain_on_delete, record.name
    statefulset = run.one(STATEFULSET, "webapp-db-statefulset").manifest()
    assert "volumeClaimTemplates" not in statefulset["spec"]


def test_dev_destroy_cleans_up_fully(dev_run: ProgramRun) -> None:
    assert not any(r.protect or r.retain_on_delete for r in dev_run.registrations)
