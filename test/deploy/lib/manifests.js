// manifests.js — rendered manifests (helm template output) and their
// validation against the official Kubernetes schemas.
//
// Schema layer: the compiled JSON-schema validators that npm
// kubernetes-models ships, the same ones the platform simulator loads.
// Rule layer: the simulator's own validateObject (object names, labels,
// ConfigMap keys, in the API server's words) when test/platform is present.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const SIMULATOR_VALIDATION = join(here, '..', '..', 'platform', 'src', 'k8s', 'validation.js');

// Every kind the chart renders.  nameRule as in the simulator's resource
// table: which name syntax the API server enforces for the kind.
export const KINDS = {
	'v1/ConfigMap': { schema: 'IoK8sApiCoreV1ConfigMap' },
	'v1/Service': { schema: 'IoK8sApiCoreV1Service', nameRule: 'label1035' },
	'v1/ServiceAccount': { schema: 'IoK8sApiCoreV1ServiceAccount' },
	'apps/v1/StatefulSet': { schema: 'IoK8sApiAppsV1StatefulSet', nameRule: 'label' },
	'rbac.authorization.k8s.io/v1/ClusterRole': { schema: 'IoK8sApiRbacV1ClusterRole', nameRule: 'path' },
	'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { schema: 'IoK8sApiRbacV1ClusterRoleBinding', nameRule: 'path' },
	'networking.k8s.io/v1/NetworkPolicy': { schema: 'IoK8sApiNetworkingV1NetworkPolicy' },
	'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': { schema: 'IoK8sApiAdmissionregistrationV1ValidatingAdmissionPolicy' },
	'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': { schema: 'IoK8sApiAdmissionregistrationV1ValidatingAdmissionPolicyBinding' },
};

// Parse a multi-document YAML stream; empty documents (a template that
// rendered nothing) are dropped.  Throws on a YAML error.
export function parseManifests(text)
{
	const objects = [];
	for (const doc of parseAllDocuments(text))
	{
		if (doc.errors.length > 0)
			throw new Error(`invalid YAML: ${doc.errors[0].message}`);
		const obj = doc.toJS();
		if (obj !== null && obj !== undefined)
			objects.push(obj);
	}
	return objects;
}

let simulatorValidate;

// The simulator's validateObject, or null when test/platform is absent.
async function loadSimulatorValidator()
{
	if (simulatorValidate === undefined)
	{
		simulatorValidate = null;
		if (existsSync(SIMULATOR_VALIDATION))
			simulatorValidate = (await import(pathToFileURL(SIMULATOR_VALIDATION).href)).validateObject ?? null;
	}
	return simulatorValidate;
}

// Schema-only fallback: the compiled validator's errors, as causes.
function schemaCauses(res, obj)
{
	if (res.validate(obj))
		return [];
	return (res.validate.errors || []).map((e) => ({
		reason: e.keyword,
		field: e.instancePath || '/',
		message: `${e.keyword} ${JSON.stringify(e.params)}`,
	}));
}

// Validate every object: [{id, causes}], causes empty when valid.  An
// object of a kind not in KINDS is a cause too (no schema to check it).
export async function validateManifests(objects)
{
	const simulator = await loadSimulatorValidator();
	const results = [];
	for (const obj of objects)
	{
		const key = `${obj?.apiVersion}/${obj?.kind}`;
		const id = `${obj?.kind}/${obj?.metadata?.name}`;
		const kind = KINDS[key];
		if (!kind)
		{
			results.push({ id, causes: [{ reason: 'UnknownKind', field: 'kind', message: `no schema for ${key}` }] });
			continue;
		}
		const mod = await import(`kubernetes-models/_schemas/${kind.schema}`);
		const res = { kind: obj.kind, nameRule: kind.nameRule, validate: mod.validate };
		results.push({ id, causes: simulator ? simulator(res, obj) : schemaCauses(res, obj) });
	}
	return { results, usedSimulator: simulator !== null };
}
