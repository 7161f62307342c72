// resources.js — the resource types the simulated Kubernetes API serves.
//
// One table drives routing, discovery, validation and RBAC naming. Adding a
// type is one entry here; nothing else is type-specific unless the real
// API server treats that type specially (namespaces, secrets, services...).

// The packages' "exports" hide _schemas/, so locate it from the package root.
const schemasOf = (pkg) => new URL('./_schemas/', import.meta.resolve(pkg)).href;
const K8S = schemasOf('kubernetes-models');
const FLUX = schemasOf('@kubernetes-models/flux-cd');
const PROM = schemasOf('@kubernetes-models/prometheus-operator');

// group '' is the core group ("/api/v1"); everything else is under "/apis".
// generation: the server maintains metadata.generation (bumped on spec changes).
// status: has a /status subresource (main-resource writes ignore .status).
// crd: served like a custom resource (no strategic merge patch, DELETE
// returns the object).
export const RESOURCES = [
	{ group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'], status: true, schema: K8S + 'IoK8sApiCoreV1Namespace', nameRule: 'label' },
	{ group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, shortNames: ['sa'], schema: K8S + 'IoK8sApiCoreV1ServiceAccount' },
	{ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, schema: K8S + 'IoK8sApiCoreV1Secret' },
	{ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'], schema: K8S + 'IoK8sApiCoreV1ConfigMap' },
	{ group: '', version: 'v1', kind: 'ResourceQuota', plural: 'resourcequotas', namespaced: true, shortNames: ['quota'], status: true, schema: K8S + 'IoK8sApiCoreV1ResourceQuota' },
	{ group: '', version: 'v1', kind: 'LimitRange', plural: 'limitranges', namespaced: true, shortNames: ['limits'], schema: K8S + 'IoK8sApiCoreV1LimitRange' },
	{ group: '', version: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', namespaced: true, shortNames: ['pvc'], status: true, schema: K8S + 'IoK8sApiCoreV1PersistentVolumeClaim' },
	{ group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, shortNames: ['po'], status: true, schema: K8S + 'IoK8sApiCoreV1Pod' },
	{ group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, shortNames: ['svc'], status: true, schema: K8S + 'IoK8sApiCoreV1Service', nameRule: 'label1035' },
	{ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true, schema: K8S + 'IoK8sApiRbacV1Role', nameRule: 'path' },
	{ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true, schema: K8S + 'IoK8sApiRbacV1RoleBinding', nameRule: 'path' },
	{ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false, schema: K8S + 'IoK8sApiRbacV1ClusterRole', nameRule: 'path' },
	{ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false, schema: K8S + 'IoK8sApiRbacV1ClusterRoleBinding', nameRule: 'path' },
	{ group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true, shortNames: ['netpol'], generation: true, schema: K8S + 'IoK8sApiNetworkingV1NetworkPolicy' },
	{ group: 'batch', version: 'v1', kind: 'CronJob', plural: 'cronjobs', namespaced: true, shortNames: ['cj'], generation: true, status: true, schema: K8S + 'IoK8sApiBatchV1CronJob', nameRule: 'cronjob' },
	{ group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true, shortNames: ['deploy'], generation: true, status: true, schema: K8S + 'IoK8sApiAppsV1Deployment' },
	{ group: 'monitoring.coreos.com', version: 'v1', kind: 'ServiceMonitor', plural: 'servicemonitors', namespaced: true, shortNames: ['smon'], generation: true, crd: true, schema: PROM + 'ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1ServiceMonitor' },
	{ group: 'monitoring.coreos.com', version: 'v1', kind: 'PrometheusRule', plural: 'prometheusrules', namespaced: true, shortNames: ['promrule'], generation: true, crd: true, schema: PROM + 'ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1PrometheusRule' },
	{ group: 'helm.toolkit.fluxcd.io', version: 'v2', kind: 'HelmRelease', plural: 'helmreleases', namespaced: true, shortNames: ['hr'], generation: true, status: true, crd: true, schema: FLUX + 'ComGithubFluxcdHelmControllerApiV2HelmRelease' },
	{ group: 'source.toolkit.fluxcd.io', version: 'v1', kind: 'HelmRepository', plural: 'helmrepositories', namespaced: true, shortNames: ['helmrepo'], generation: true, status: true, crd: true, schema: FLUX + 'ComGithubFluxcdSourceControllerApiV1HelmRepository' },
];

for (const r of RESOURCES)
{
	r.apiVersion = r.group ? `${r.group}/${r.version}` : r.version;
	r.singular = r.kind.toLowerCase();
	r.verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
	if (r.plural === 'namespaces')
		r.verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
}

// Load the compiled JSON-schema validators of kubernetes-models lazily but
// all at start, so the first request is not slow.
export async function loadValidators()
{
	await Promise.all(RESOURCES.map(async (r) =>
	{
		const mod = await import(r.schema + '.js');
		r.validate = mod.validate;
	}));
}

export function findResource(group, version, plural)
{
	return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export function findByKind(apiVersion, kind)
{
	return RESOURCES.find((r) => r.apiVersion === apiVersion && r.kind === kind);
}

export function groupVersions()
{
	const groups = new Map();
	for (const r of RESOURCES)
	{
		if (!r.group)
			continue;
		if (!groups.has(r.group))
			groups.set(r.group, new Set());
		groups.get(r.group).add(r.version);
	}
	return groups;
}
