// defaults.js — server-side defaulting and type-specific checks the schema
// cannot express, for the types whose defaults clients can observe.

import { invalidValue, required } from './validation.js';

let nextClusterIP = 10;

function b64(s)
{
	return Buffer.from(String(s), 'utf8').toString('base64');
}

// Called on create and on every update, before validation.
export function applyDefaults(res, obj, old)
{
	switch (res.kind)
	{
		case 'Namespace':
			obj.metadata.labels = { ...(obj.metadata.labels || {}), 'kubernetes.io/metadata.name': obj.metadata.name };
			obj.spec = obj.spec || {};
			if (!obj.spec.finalizers)
				obj.spec.finalizers = ['kubernetes'];
			obj.status = old?.status || obj.status || { phase: 'Active' };
			break;
		case 'Secret':
			if (!obj.type)
				obj.type = 'Opaque';
			if (obj.stringData && typeof obj.stringData === 'object')
			{
				obj.data = { ...(obj.data || {}) };
				for (const [k, v] of Object.entries(obj.stringData))
					if (typeof v === 'string')
						obj.data[k] = b64(v);
				delete obj.stringData;
			}
			break;
		case 'Service':
			{
				const s = obj.spec = obj.spec || {};
				s.type = s.type || 'ClusterIP';
				if (!s.clusterIP && s.type !== 'ExternalName')
				{
					s.clusterIP = old?.spec?.clusterIP || `10.96.${Math.floor(nextClusterIP / 250)}.${(nextClusterIP % 250) + 1}`;
					if (!old?.spec?.clusterIP)
						nextClusterIP += 1;
				}
				if (s.clusterIP && !s.clusterIPs)
					s.clusterIPs = [s.clusterIP];
				s.sessionAffinity = s.sessionAffinity || 'None';
				s.ipFamilies = s.ipFamilies || ['IPv4'];
				s.ipFamilyPolicy = s.ipFamilyPolicy || 'SingleStack';
				s.internalTrafficPolicy = s.internalTrafficPolicy || 'Cluster';
				for (const p of s.ports || [])
				{
					p.protocol = p.protocol || 'TCP';
					if (p.targetPort === undefined)
						p.targetPort = p.port;
				}
				obj.status = old?.status || obj.status || { loadBalancer: {} };
				break;
			}
		case 'Pod':
			{
				const s = obj.spec = obj.spec || {};
				s.restartPolicy = s.restartPolicy || 'Always';
				s.dnsPolicy = s.dnsPolicy || 'ClusterFirst';
				s.schedulerName = s.schedulerName || 'default-scheduler';
				s.serviceAccountName = s.serviceAccountName || 'default';
				if (s.terminationGracePeriodSeconds === undefined)
					s.terminationGracePeriodSeconds = 30;
				s.securityContext = s.securityContext || {};
				for (const c of (s.containers || []).concat(s.initContainers || []))
				{
					if (!c.imagePullPolicy && typeof c.image === 'string')
						c.imagePullPolicy = /:latest$|^[^:]*$/.test(c.image.split('/').pop()) ? 'Always' : 'IfNotPresent';
					c.terminationMessagePath = c.terminationMessagePath || '/dev/termination-log';
					c.terminationMessagePolicy = c.terminationMessagePolicy || 'File';
					for (const p of c.ports || [])
						p.protocol = p.protocol || 'TCP';
				}
				if (!old && !obj.status?.phase)
					obj.status = { phase: 'Pending', qosClass: 'BestEffort' };
				break;
			}
		case 'CronJob':
			{
				const s = obj.spec = obj.spec || {};
				s.concurrencyPolicy = s.concurrencyPolicy || 'Allow';
				if (s.suspend === undefined)
					s.suspend = false;
				if (s.successfulJobsHistoryLimit === undefined)
					s.successfulJobsHistoryLimit = 3;
				if (s.failedJobsHistoryLimit === undefined)
					s.failedJobsHistoryLimit = 1;
				// replace() keeps the old status on main-resource writes; a
				// write to /status brings its own
				obj.status = obj.status || old?.status || {};
				break;
			}
		case 'Deployment':
			{
				const s = obj.spec = obj.spec || {};
				if (s.replicas === undefined)
					s.replicas = 1;
				if (s.revisionHistoryLimit === undefined)
					s.revisionHistoryLimit = 10;
				if (s.progressDeadlineSeconds === undefined)
					s.progressDeadlineSeconds = 600;
				s.strategy = s.strategy || { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
				break;
			}
		case 'NetworkPolicy':
			{
				const s = obj.spec = obj.spec || {};
				if (!s.policyTypes)
				{
					s.policyTypes = ['Ingress'];
					if (s.egress && s.egress.length)
						s.policyTypes.push('Egress');
				}
				for (const rule of (s.ingress || []).concat(s.egress || []))
					for (const p of rule?.ports || [])
						p.protocol = p.protocol || 'TCP';
				break;
			}
		default:
			break;
	}
}

const CRON_MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);
const CRON_RANGES = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];
const NAMES = [null, null, null,
	['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
	['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']];

// Standard 5-field cron as robfig/cron (used by the CronJob controller)
// parses it; returns an error text or null.
export function cronError(expr)
{
	if (typeof expr !== 'string' || expr.trim() === '')
		return 'empty spec string';
	let s = expr.trim();
	if (/^(TZ|CRON_TZ)=/.test(s))
		return 'CRON_TZ or TZ used in schedule is not supported, please use timeZone field instead';
	if (s.startsWith('@'))
		return CRON_MACROS.has(s) ? null : `unrecognized descriptor: ${s}`;
	const fields = s.split(/\s+/);
	if (fields.length !== 5)
		return `expected exactly 5 fields, found ${fields.length}: ${s}`;
	for (let i = 0; i < 5; i++)
	{
		const [lo, hi] = CRON_RANGES[i];
		for (const part of fields[i].split(','))
		{
			const m = part.match(/^(\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/);
			if (!m)
				return `failed to parse int from ${part}: strconv.Atoi: parsing "${part}": invalid syntax`;
			if (m[2] !== undefined && Number(m[2]) === 0)
				return `step of range should be a positive number: ${part}`;
			if (m[1] === '*' || m[1] === '?')
				continue;
			for (const v of m[1].split('-'))
			{
				let n = Number(v);
				if (!/^\d+$/.test(v))
				{
					const idx = NAMES[i] ? NAMES[i].indexOf(v.toLowerCase()) : -1;
					if (idx < 0)
						return `failed to parse int from ${v}: strconv.Atoi: parsing "${v}": invalid syntax`;
					n = idx + (i === 3 ? 1 : 0);
				}
				if (n < lo)
					return `beginning of range (${n}) below minimum (${lo}): ${part}`;
				if (n > hi)
					return `end of range (${n}) above maximum (${hi}): ${part}`;
			}
		}
	}
	return null;
}

// Type-specific validation beyond the schema. Returns causes.
export function typeChecks(res, obj, old)
{
	const causes = [];
	if (res.kind === 'CronJob' && obj.spec)
	{
		if (typeof obj.spec.schedule === 'string')
		{
			const err = cronError(obj.spec.schedule);
			if (err)
				causes.push(invalidValue('spec.schedule', obj.spec.schedule, err));
		}
		const rp = obj.spec.jobTemplate?.spec?.template?.spec?.restartPolicy;
		const f = 'spec.jobTemplate.spec.template.spec.restartPolicy';
		if (obj.spec.jobTemplate?.spec?.template?.spec)
		{
			if (rp === undefined)
				causes.push(required(f));
			else if (rp !== 'OnFailure' && rp !== 'Never')
				causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(rp)}: supported values: "OnFailure", "Never"`, field: f });
		}
		if (obj.spec.timeZone !== undefined && !/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(obj.spec.timeZone))
			causes.push(invalidValue('spec.timeZone', obj.spec.timeZone, 'unknown time zone ' + obj.spec.timeZone));
	}
	if ((res.kind === 'Deployment') && obj.spec?.selector && obj.spec?.template)
	{
		const sel = obj.spec.selector.matchLabels || {};
		const labels = obj.spec.template.metadata?.labels || {};
		if (!Object.entries(sel).every(([k, v]) => labels[k] === v))
			causes.push(invalidValue('spec.template.metadata.labels', labels, '`selector` does not match template `labels`'));
	}
	if ((res.kind === 'RoleBinding' || res.kind === 'ClusterRoleBinding') && old &&
		JSON.stringify(old.roleRef) !== JSON.stringify(obj.roleRef))
		causes.push(invalidValue('roleRef', obj.roleRef, 'cannot change roleRef'));
	if (res.kind === 'Pod' && old && JSON.stringify(old.spec?.containers?.map((c) => c.name)) !== JSON.stringify(obj.spec?.containers?.map((c) => c.name)))
		causes.push({ reason: 'FieldValueForbidden', message: 'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)', field: 'spec' });
	return causes;
}
