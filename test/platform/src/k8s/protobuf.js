// protobuf.js — decode the Kubernetes protobuf request encoding for the
// few built-in types kubectl's typed generators send that way ("kubectl
// create namespace|configmap|secret|serviceaccount" post application/vnd.kubernetes.protobuf
// and do not fall back to JSON). Everything else answers 415, as a server
// without protobuf support would.
//
// Envelope: "k8s\0" + runtime.Unknown{typeMeta{apiVersion=1, kind=2}=1, raw=2}.
// Field numbers are those of k8s.io/api generated.proto.

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

// Wire-level decode: {fieldNumber: [values]} where values are Buffers
// (length-delimited) or numbers (varint).
function fields(buf)
{
	const out = {};
	let i = 0;
	const varint = () =>
	{
		let result = 0n;
		let shift = 0n;
		for (;;)
		{
			if (i >= buf.length)
				throw new Error('truncated varint');
			const b = buf[i++];
			result |= BigInt(b & 0x7f) << shift;
			if (!(b & 0x80))
				break;
			shift += 7n;
		}
		return result;
	};
	while (i < buf.length)
	{
		const key = Number(varint());
		const num = key >>> 3;
		const wire = key & 7;
		let v;
		if (wire === 0)
			v = Number(BigInt.asIntN(64, varint()));
		else if (wire === 2)
		{
			const len = Number(varint());
			v = buf.subarray(i, i + len);
			i += len;
		}
		else if (wire === 1)
		{
			v = buf.readBigInt64LE(i);
			i += 8;
		}
		else if (wire === 5)
		{
			v = buf.readInt32LE(i);
			i += 4;
		}
		else
			throw new Error(`unsupported wire type ${wire}`);
		(out[num] = out[num] || []).push(v);
	}
	return out;
}

const str = (f, n) => (f[n] ? f[n][f[n].length - 1].toString('utf8') : undefined);
const strs = (f, n) => (f[n] ? f[n].map((b) => b.toString('utf8')) : undefined);
const bool = (f, n) => (f[n] ? f[n][f[n].length - 1] !== 0 : undefined);

function map(f, n, valueFn = (b) => b.toString('utf8'))
{
	if (!f[n])
		return undefined;
	const out = {};
	for (const entry of f[n])
	{
		const e = fields(entry);
		out[str(e, 1) ?? ''] = e[2] ? valueFn(e[2][0]) : valueFn(Buffer.alloc(0));
	}
	return out;
}

function objectMeta(buf)
{
	const f = fields(buf);
	const md = {
		name: str(f, 1),
		generateName: str(f, 2),
		namespace: str(f, 3),
		resourceVersion: str(f, 6),
		labels: map(f, 11),
		annotations: map(f, 12),
		finalizers: strs(f, 14),
	};
	for (const k of Object.keys(md))
		if (md[k] === undefined || md[k] === '')
			delete md[k];
	return md;
}

function clean(o)
{
	for (const k of Object.keys(o))
		if (o[k] === undefined)
			delete o[k];
	return o;
}

const DECODERS = {
	'v1/Namespace': (f) => clean({
		metadata: f[1] ? objectMeta(f[1][0]) : {},
		spec: f[2] ? clean({ finalizers: strs(fields(f[2][0]), 1) }) : undefined,
	}),
	'v1/ConfigMap': (f) => clean({
		metadata: f[1] ? objectMeta(f[1][0]) : {},
		data: map(f, 2),
		binaryData: map(f, 3, (b) => b.toString('base64')),
		immutable: bool(f, 4),
	}),
	'v1/ServiceAccount': (f) => clean({
		metadata: f[1] ? objectMeta(f[1][0]) : {},
		automountServiceAccountToken: bool(f, 4),
	}),
	'v1/Secret': (f) => clean({
		metadata: f[1] ? objectMeta(f[1][0]) : {},
		data: map(f, 2, (b) => b.toString('base64')),
		type: str(f, 3),
		stringData: map(f, 4),
		immutable: bool(f, 5),
	}),
};

// Returns the decoded object, or null when the type is not supported.
export function decodeProtobuf(buf)
{
	if (buf.length < 4 || !buf.subarray(0, 4).equals(MAGIC))
		throw new Error('protobuf body without the k8s envelope');
	const unknown = fields(buf.subarray(4));
	const tm = unknown[1] ? fields(unknown[1][0]) : {};
	const apiVersion = str(tm, 1);
	const kind = str(tm, 2);
	const decode = DECODERS[`${apiVersion}/${kind}`];
	if (!decode)
		return null;
	const obj = decode(fields(unknown[2] ? unknown[2][0] : Buffer.alloc(0)));
	return { apiVersion, kind, ...obj };
}
