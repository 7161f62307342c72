"""test/bench/e2e_baseline.py: the sequential baseline of bench_e2e.sh.

Sends, one tenant after the other, the requests tenancy sent for each
tenant (read from the simulator's journal of tenancy's run, in the order
they were sent), with the official clients: python3-kubernetes for the
Kubernetes API, python3-hvac for Vault, urllib for Grafana (it has no
official Python client).  Request bodies come from tenancy's steps (plain
steps) or are built as the handlers build them (namespace, Vault
credentials, Secrets, dashboard).  Validation's polls are replaced by what
a script does: once the HelmRelease is applied, GET it every 100 ms until
it is Ready, then read the namespace and the pods.

usage: e2e_baseline.py ENDPOINTS_JSON SIM_DIR JOURNAL_JSON STEPS_JSON TENANT...
prints the seconds the tenants took, one after another.
"""
import json
import secrets
import sys
import time
import urllib.request

import hvac
import kubernetes.client

endpoints = json.load(open(sys.argv[1]))
sim_dir = sys.argv[2]
journal = json.load(open(sys.argv[3]))
steps = json.load(open(sys.argv[4]))  # {tenant: {"METHOD path": body}}
tenants = sys.argv[5:]


def token(name):
    with open(f"{sim_dir}/{name}") as f:
        return f.read().strip()


conf = kubernetes.client.Configuration()
conf.host = endpoints["kubernetes"]
conf.api_key = {"authorization": "Bearer " + token("k8s-token")}
k8s = kubernetes.client.ApiClient(conf)
vault = hvac.Client(url=endpoints["vault"], token=token("vault-token"))
grafana_token = token("grafana-token")


def k8s_call(method, path, query=None, body=None, content_type=None):
    headers = {"Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    if body is not None and content_type and "json" not in content_type:
        body = json.dumps(body)		# YAML content types: JSON is YAML
    try:
        resp = k8s.call_api(path, method, query_params=list((query or {}).items()),
                            header_params=headers, body=body,
                            auth_settings=["BearerToken"], _preload_content=False)
        return json.loads(resp[0].data or b"{}")
    except kubernetes.client.exceptions.ApiException as e:
        if e.status in (404, 409):
            return None
        raise


def grafana_call(method, path, body=None):
    req = urllib.request.Request(endpoints["grafana"] + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + grafana_token,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        if e.code in (404, 412):
            return None
        raise


def secret_body(ns, name):
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "type": "Opaque", "stringData": {"value": secrets.token_urlsafe(24)}}


def ready(release):
    for c in (release or {}).get("status", {}).get("conditions", []):
        if c.get("type") == "Ready" and c.get("status") == "True":
            return True
    return False


def provision(tenant):
    ns = f"airflow-{tenant}"
    bodies = steps.get(tenant, {})
    # the tenant's requests; the namespace's POST and the dashboard's
    # have no tenant in their path: sent after the GET that precedes them
    mine = [e for e in journal if tenant in e["path"]]
    namespace_made = False
    created = {}
    release_path = None
    for e in mine:
        method, path, query = e["method"], e["path"], e.get("query") or {}
        if e["service"] == "grafana":
            grafana_call("GET", path)
            grafana_call("POST", "/api/dashboards/db",
                         {"dashboard": {"uid": f"tn_{tenant}", "title": tenant}, "overwrite": True})
        elif e["service"] == "vault":
            kv = path.split("/v1/secret/data/", 1)[1]
            if method == "GET":
                try:
                    vault.secrets.kv.v2.read_secret_version(path=kv, mount_point="secret")
                except hvac.exceptions.InvalidPath:
                    pass
            else:
                vault.secrets.kv.v2.create_or_update_secret(
                    path=kv, mount_point="secret",
                    secret={"username": f"airflow_{tenant}", "password": secrets.token_urlsafe(24)})
        elif method == "GET" and "/helmreleases/" in path:
            release_path = path		# validation: polled below
        elif method == "GET":
            if release_path is None:
                k8s_call("GET", path, query)
            if path == f"/api/v1/namespaces/{ns}" and not namespace_made:
                namespace_made = True
                k8s_call("POST", "/api/v1/namespaces", None,
                         {"apiVersion": "v1", "kind": "Namespace",
                          "metadata": {"name": ns, "labels": {"tenancy.io/tenant": tenant}}},
                         "application/json")
        elif method == "POST" and e["service"] == "kubernetes":
            # tenancy creates each object with POST (so that it never
            # takes over someone else's); a script applies it instead
            sent = created.setdefault(path, [])
            names = [k.split(" ", 1)[1] for k in bodies
                     if k.startswith(f"PATCH {path}/") and k.count("/") == path.count("/") + 1
                     and k.split(" ", 1)[1] not in sent]
            if names:
                step = bodies[f"PATCH {names[0]}"]
                sent.append(names[0])
                k8s_call("PATCH", names[0], {"fieldManager": "tenancy", "force": "true"},
                         step.get("body"), step.get("content_type"))
            elif path.endswith("/secrets"):
                name = f"secret-{len(sent)}"
                sent.append(name)
                k8s_call("PATCH", f"{path}/{name}", {"fieldManager": "tenancy", "force": "true"},
                         secret_body(ns, name), "application/apply-patch+yaml")
        elif method == "PATCH" and "/secrets/" in path and f"PATCH {path}" not in bodies:
            k8s_call("PATCH", path, query, secret_body(ns, path.rsplit("/", 1)[1]),
                     "application/apply-patch+yaml")
        else:
            step = bodies.get(f"{method} {path}", {})
            k8s_call(method, path, query, step.get("body"), step.get("content_type"))
    # validation as a script does it: poll every 100 ms until Ready
    if release_path:
        deadline = time.time() + 120
        while not ready(k8s_call("GET", release_path)):
            if time.time() > deadline:
                sys.exit(f"baseline: {release_path} not Ready after 120 s")
            time.sleep(0.1)
        k8s_call("GET", f"/api/v1/namespaces/{ns}")
        k8s_call("GET", f"/api/v1/namespaces/{ns}/pods")


start = time.time()
for t in tenants:
    provision(t)
print("%.3f" % (time.time() - start))
