// controllers.js — the little that runs behind the API: the namespace
// controller (default ServiceAccount and root CA ConfigMap, cascade delete),
// a kubelet that starts pods, Flux's source and helm controllers (a
// HelmRelease becomes Ready after a delay and its workloads appear).

import { createHash } from 'node:crypto';
import { RESOURCES, findByKind } from './resources.js';
import { timestamp } from './store.js';
import { clone } from '../clone.js';
import { trackUpdate } from './patch.js';

const R = (kind, apiVersion = 'v1') => findByKind(apiVersion, kind);

export class Controllers
{
	constructor(sim, api, options)
	{
		this.sim = sim;
		this.api = api;
		this.store = api.store;
		this.options = options;		/* {helmReadyDelayMs, namespaceDeleteDelayMs, podStartDelayMs, caPem} */
		this.outcomes = [];			/* [{namespace?, name?, ready, reason, message}] */
		this.timers = new Set();
		this.store.subscribe((ev) => this.onEvent(ev));
	}

	later(ms, fn)
	{
		const t = setTimeout(() =>
		{
			this.timers.delete(t);
			try
			{
				fn();
			}
			catch (e)
			{
				this.sim.log(`controller error: ${e.stack}`);
			}
		}, ms);
		this.timers.add(t);
	}

	stop()
	{
		for (const t of this.timers)
			clearTimeout(t);
		this.timers.clear();
	}

	// Write status as a controller would (status subresource, own manager).
	writeStatus(res, ns, name, manager, mutate)
	{
		const old = this.store.peek(res, ns, name);
		if (!old)
			return null;
		const obj = clone(old);
		mutate(obj);
		trackUpdate(res, old, obj, manager, 'status');
		return this.store.update(res, obj);
	}

	createIfMissing(res, obj)
	{
		const md = obj.metadata;
		if (this.store.has(res, md.namespace, md.name))
			return;
		const ns = md.namespace ? this.store.peek(R('Namespace'), undefined, md.namespace) : null;
		if (md.namespace && (!ns || ns.status?.phase === 'Terminating'))
			return;
		const manager = md.manager || 'kube-controller-manager';
		delete md.manager;
		obj.apiVersion = res.apiVersion;
		obj.kind = res.kind;
		trackUpdate(res, undefined, obj, manager);
		this.store.create(res, obj);
	}

	onEvent(ev)
	{
		const { res, type, object } = ev;
		switch (res.kind)
		{
			case 'Namespace':
				if (type === 'ADDED')
					this.later(0, () => this.namespaceAdded(object.metadata.name));
				else if (type === 'MODIFIED' && object.metadata.deletionTimestamp && !this.terminating?.has(object.metadata.name))
				{
					this.terminating = this.terminating || new Set();
					this.terminating.add(object.metadata.name);
					this.later(this.options.namespaceDeleteDelayMs, () => this.finalizeNamespace(object.metadata.name));
				}
				break;
			case 'Pod':
				if (type === 'ADDED' && object.status?.phase === 'Pending')
					this.later(this.options.podStartDelayMs, () => this.startPod(object.metadata.namespace, object.metadata.name));
				break;
			case 'Deployment':
				// Deployments of a simulated HelmRelease get their pods from
				// installWorkloads; every other one (helm's, kubectl's) from
				// the deployment controller, as in a cluster
				if (object.metadata.labels?.['helm.toolkit.fluxcd.io/name'])
					break;
				if (type === 'DELETED')
					this.later(0, () => this.removeDeploymentPods(object.metadata.namespace, object.metadata.name, null));
				else if (object.metadata.generation !== object.status?.observedGeneration && !object.metadata.deletionTimestamp)
					this.later(0, () => this.reconcileDeployment(object.metadata.namespace, object.metadata.name));
				break;
			case 'HelmRelease':
				if (type === 'DELETED')
					this.uninstall(object);
				else if (object.metadata.generation !== object.status?.observedGeneration && !object.metadata.deletionTimestamp &&
					!(object.status?.conditions || []).some((c) => c.type === 'Reconciling' && c.observedGeneration === object.metadata.generation))
					this.reconcileRelease(object);
				break;
			case 'HelmRepository':
				if (type !== 'DELETED' && object.metadata.generation !== object.status?.observedGeneration)
					this.later(20, () => this.repositoryReady(object.metadata.namespace, object.metadata.name));
				break;
			default:
				break;
		}
	}

	// ------------------------------------------------------------ namespaces

	namespaceAdded(ns)
	{
		this.createIfMissing(R('ServiceAccount'), { metadata: { name: 'default', namespace: ns, manager: 'kube-controller-manager' } });
		this.createIfMissing(R('ConfigMap'), {
			metadata: { name: 'kube-root-ca.crt', namespace: ns, annotations: { 'kubernetes.io/description': 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.' } },
			data: { 'ca.crt': this.options.caPem || '-----BEGIN CERTIFICATE-----\n(simulator)\n-----END CERTIFICATE-----\n' },
		});
	}

	// Delete everything in the namespace, then the namespace itself.
	finalizeNamespace(ns)
	{
		this.terminating.delete(ns);
		for (const res of RESOURCES.filter((r) => r.namespaced))
			for (const o of this.store.list(res, ns))
				this.store.remove(res, ns, o.metadata.name);
		this.store.remove(R('Namespace'), undefined, ns);
	}

	// ---------------------------------------------------------------- pods

	startPod(ns, name)
	{
		const now = timestamp();
		this.writeStatus(R('Pod'), ns, name, 'kubelet', (p) =>
		{
			p.spec.nodeName = p.spec.nodeName || 'sim-node-1';
			p.status = runningStatus(p, now);
		});
	}

	// ----------------------------------------------------------- deployments

	// The deployment and replica set controllers in one: spec.replicas pods
	// of the current template (owned by the replica set <name>-<hash>), the
	// pods of an older template removed, the status of the Deployment
	// written.  The kubelet (startPod) then starts the pods.
	reconcileDeployment(ns, name)
	{
		const dep = this.store.get(R('Deployment', 'apps/v1'), ns, name);
		if (!dep)
			return;
		const replicas = dep.spec?.replicas ?? 1;
		const template = dep.spec?.template || {};
		const hash = digest(JSON.stringify(template)).slice(0, 10);
		const rs = `${name}-${hash}`;
		const wanted = new Set();
		for (let i = 0; i < replicas; i++)
			wanted.add(`${rs}-${digest(rs + i).slice(0, 5)}`);
		this.removeDeploymentPods(ns, name, wanted);
		for (const podName of wanted)
			this.createIfMissing(R('Pod'), {
				metadata: {
					name: podName, namespace: ns, manager: 'kube-controller-manager',
					labels: { ...(template.metadata?.labels || {}), 'pod-template-hash': hash },
					annotations: { ...(template.metadata?.annotations || {}) },
					ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid: digest(ns + '/' + rs).slice(0, 32), controller: true, blockOwnerDeletion: true }],
				},
				spec: { ...clone(template.spec || {}), restartPolicy: template.spec?.restartPolicy || 'Always' },
				status: { phase: 'Pending' },
			});
		const now = timestamp();
		this.writeStatus(R('Deployment', 'apps/v1'), ns, name, 'kube-controller-manager', (d) =>
		{
			d.status = {
				observedGeneration: d.metadata.generation, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas,
				conditions: [
					{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.', lastUpdateTime: now, lastTransitionTime: now },
					{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${rs}" has successfully progressed.`, lastUpdateTime: now, lastTransitionTime: now },
				],
			};
		});
	}

	// Remove the pods of a Deployment's replica sets but those named in
	// KEEP (null: all of them, the Deployment is gone).
	removeDeploymentPods(ns, name, keep)
	{
		const owned = new RegExp(`^${name.replace(/[.]/g, '\\.')}-[0-9a-f]{10}$`);
		for (const p of this.store.list(R('Pod'), ns))
		{
			const owner = (p.metadata.ownerReferences || []).find((o) => o.kind === 'ReplicaSet' && o.controller);
			if (owner && owned.test(owner.name) && !(keep && keep.has(p.metadata.name)))
				this.store.remove(R('Pod'), ns, p.metadata.name);
		}
	}

	// --------------------------------------------------------------- flux

	outcomeFor(ns, name)
	{
		const specific = (o) => (o.name ? 2 : 0) + (o.namespace ? 1 : 0);
		const matches = this.outcomes.filter((o) => (!o.namespace || o.namespace === ns) && (!o.name || o.name === name));
		matches.sort((a, b) => specific(b) - specific(a));
		return matches[0] || { ready: true };
	}

	reconcileRelease(hr)
	{
		const res = R('HelmRelease', 'helm.toolkit.fluxcd.io/v2');
		const { namespace: ns, name, generation } = hr.metadata;
		if (hr.spec?.suspend)
			return;
		const now = timestamp();
		this.writeStatus(res, ns, name, 'helm-controller', (o) =>
		{
			o.status = o.status || {};
			o.status.conditions = setCondition(o.status.conditions, { type: 'Reconciling', status: 'True', reason: 'Progressing', message: `Fulfilling prerequisites`, observedGeneration: generation, lastTransitionTime: now });
			o.status.conditions = setCondition(o.status.conditions, { type: 'Ready', status: 'Unknown', reason: 'Progressing', message: 'Reconciliation in progress', observedGeneration: generation, lastTransitionTime: now });
		});
		const outcome = this.outcomeFor(ns, name);
		const delay = outcome.delayMs ?? this.options.helmReadyDelayMs;
		this.later(delay, () => this.finishRelease(ns, name, generation));
	}

	finishRelease(ns, name, generation)
	{
		const res = R('HelmRelease', 'helm.toolkit.fluxcd.io/v2');
		const hr = this.store.get(res, ns, name);
		if (!hr || hr.metadata.generation !== generation || hr.metadata.deletionTimestamp)
			return;
		const outcome = this.outcomeFor(ns, name);
		const chart = hr.spec?.chart?.spec?.chart || hr.spec?.chartRef?.name || 'chart';
		const chartVersion = hr.spec?.chart?.spec?.version || '1.0.0';
		const releaseName = hr.spec?.releaseName || (hr.spec?.targetNamespace ? `${hr.spec.targetNamespace}-${name}` : name);
		const targetNs = hr.spec?.targetNamespace || ns;
		const now = timestamp();
		const history = hr.status?.history || [];
		const upgrading = history.length > 0;
		const version = (history[0]?.version || 0) + 1;
		if (outcome.ready === false)
		{
			const reason = outcome.reason || (upgrading ? 'UpgradeFailed' : 'InstallFailed');
			const message = outcome.message || `Helm ${upgrading ? 'upgrade' : 'install'} failed for release ${targetNs}/${releaseName} with chart ${chart}@${chartVersion}: simulated failure`;
			this.writeStatus(res, ns, name, 'helm-controller', (o) =>
			{
				o.status.observedGeneration = generation;
				o.status.lastAttemptedGeneration = generation;
				o.status.lastAttemptedRevision = chartVersion;
				o.status.failures = (o.status.failures || 0) + 1;
				o.status.conditions = removeCondition(o.status.conditions, 'Reconciling');
				o.status.conditions = setCondition(o.status.conditions, { type: 'Ready', status: 'False', reason, message, observedGeneration: generation, lastTransitionTime: now });
				o.status.conditions = setCondition(o.status.conditions, { type: 'Released', status: 'False', reason, message, observedGeneration: generation, lastTransitionTime: now });
			});
			return;
		}
		const message = `Helm ${upgrading ? 'upgrade' : 'install'} succeeded for release ${targetNs}/${releaseName}.v${version} with chart ${chart}@${chartVersion}`;
		this.installWorkloads(hr, targetNs, releaseName, chart);
		this.writeStatus(res, ns, name, 'helm-controller', (o) =>
		{
			o.status.observedGeneration = generation;
			o.status.lastAttemptedGeneration = generation;
			o.status.lastAttemptedRevision = chartVersion;
			o.status.lastAttemptedReleaseAction = upgrading ? 'upgrade' : 'install';
			o.status.storageNamespace = targetNs;
			o.status.helmChart = `${ns}-${name}`;
			delete o.status.failures;
			o.status.history = [{ name: releaseName, namespace: targetNs, version, status: 'deployed', chartName: chart, chartVersion, appVersion: chartVersion, configDigest: 'sha256:' + digest(JSON.stringify(hr.spec?.values || {})), digest: 'sha256:' + digest(`${releaseName}${version}`), firstDeployed: history[history.length - 1]?.firstDeployed || now, lastDeployed: now }].concat(history).slice(0, 5);
			o.status.conditions = removeCondition(o.status.conditions, 'Reconciling');
			o.status.conditions = setCondition(o.status.conditions, { type: 'Ready', status: 'True', reason: upgrading ? 'UpgradeSucceeded' : 'InstallSucceeded', message, observedGeneration: generation, lastTransitionTime: now });
			o.status.conditions = setCondition(o.status.conditions, { type: 'Released', status: 'True', reason: upgrading ? 'UpgradeSucceeded' : 'InstallSucceeded', message, observedGeneration: generation, lastTransitionTime: now });
		});
	}

	components(chart)
	{
		if (/airflow/i.test(chart))
			return ['scheduler', 'webserver', 'triggerer'];
		return [chart];
	}

	// A Deployment per component, each with one Running pod.
	installWorkloads(hr, ns, releaseName, chart)
	{
		const dep = R('Deployment', 'apps/v1');
		const pod = R('Pod');
		const now = timestamp();
		for (const comp of this.components(chart))
		{
			const depName = releaseName === comp ? comp : `${releaseName}-${comp}`;
			const labels = {
				'app.kubernetes.io/name': chart,
				'app.kubernetes.io/instance': releaseName,
				'app.kubernetes.io/component': comp,
				'app.kubernetes.io/managed-by': 'Helm',
				'helm.toolkit.fluxcd.io/name': hr.metadata.name,
				'helm.toolkit.fluxcd.io/namespace': hr.metadata.namespace,
			};
			const selector = { 'app.kubernetes.io/instance': releaseName, 'app.kubernetes.io/component': comp };
			const container = { name: comp, image: `sim.local/${chart}:${hr.spec?.chart?.spec?.version || 'latest'}`, imagePullPolicy: 'IfNotPresent' };
			// the chart puts <component>.resources of the values on the
			// component's container, as the Airflow chart does
			const resources = hr.spec?.values?.[comp]?.resources;
			if (resources && typeof resources === 'object')
				container.resources = clone(resources);
			this.createIfMissing(dep, {
				metadata: { name: depName, namespace: ns, labels, manager: 'helm-controller' },
				spec: { replicas: 1, selector: { matchLabels: selector }, template: { metadata: { labels }, spec: { containers: [container] } }, revisionHistoryLimit: 10, progressDeadlineSeconds: 600, strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } } },
			});
			this.writeStatus(dep, ns, depName, 'kube-controller-manager', (d) =>
			{
				d.status = {
					observedGeneration: d.metadata.generation, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1,
					conditions: [
						{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.', lastUpdateTime: now, lastTransitionTime: now },
						{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${depName}-${digest(depName).slice(0, 10)}" has successfully progressed.`, lastUpdateTime: now, lastTransitionTime: now },
					],
				};
			});
			const podName = `${depName}-${digest(depName).slice(0, 10)}-${digest(depName + 'pod').slice(0, 5)}`;
			const p = { metadata: { name: podName, namespace: ns, labels: { ...labels, 'pod-template-hash': digest(depName).slice(0, 10) }, manager: 'kube-controller-manager' }, spec: { containers: [container], restartPolicy: 'Always', nodeName: 'sim-node-1', serviceAccountName: 'default' } };
			p.status = runningStatus(p, now);
			this.createIfMissing(pod, p);
		}
	}

	uninstall(hr)
	{
		const releaseName = hr.spec?.releaseName || (hr.spec?.targetNamespace ? `${hr.spec.targetNamespace}-${hr.metadata.name}` : hr.metadata.name);
		const ns = hr.spec?.targetNamespace || hr.metadata.namespace;
		for (const res of [R('Deployment', 'apps/v1'), R('Pod')])
			for (const o of this.store.list(res, ns))
				if (o.metadata.labels?.['helm.toolkit.fluxcd.io/name'] === hr.metadata.name && o.metadata.labels?.['app.kubernetes.io/instance'] === releaseName)
					this.store.remove(res, ns, o.metadata.name);
	}

	repositoryReady(ns, name)
	{
		const res = R('HelmRepository', 'source.toolkit.fluxcd.io/v1');
		const now = timestamp();
		this.writeStatus(res, ns, name, 'source-controller', (o) =>
		{
			const rev = 'sha256:' + digest(JSON.stringify(o.spec || {}));
			o.status = {
				observedGeneration: o.metadata.generation,
				url: `http://source-controller.flux-system.svc.cluster.local./helmrepository/${ns}/${name}/index.yaml`,
				artifact: { path: `helmrepository/${ns}/${name}/index-${rev.slice(7, 19)}.yaml`, url: `http://source-controller.flux-system.svc.cluster.local./helmrepository/${ns}/${name}/index.yaml`, revision: rev, digest: rev, lastUpdateTime: now, size: 1024 },
				conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: `stored artifact: revision '${rev}'`, observedGeneration: o.metadata.generation, lastTransitionTime: now }],
			};
		});
	}
}

function digest(s)
{
	return createHash('sha256').update(s).digest('hex');
}

function setCondition(conds, c)
{
	const out = (conds || []).filter((x) => x.type !== c.type);
	const prev = (conds || []).find((x) => x.type === c.type);
	if (prev && prev.status === c.status)
		c.lastTransitionTime = prev.lastTransitionTime;
	out.unshift(c);
	return out;
}

function removeCondition(conds, type)
{
	return (conds || []).filter((x) => x.type !== type);
}

function runningStatus(p, now)
{
	return {
		phase: 'Running',
		conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now })),
		hostIP: '10.0.0.10',
		podIP: `10.244.0.${(parseInt(digest(p.metadata.name).slice(0, 2), 16) % 250) + 2}`,
		startTime: now,
		qosClass: 'BestEffort',
		containerStatuses: (p.spec.containers || []).map((c) => ({
			name: c.name, image: c.image, imageID: '', containerID: `containerd://${digest(p.metadata.name + c.name)}`,
			ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } },
		})),
	};
}
