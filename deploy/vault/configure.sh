#!/usr/bin/env bash
# deploy/vault/configure.sh: give the tenancy worker its Vault access.
#
# Writes the worker's policy and a Kubernetes auth role that
# issues tokens with that policy, and only that policy besides Vault's
# "default", to the worker's service account and to nothing else.
# Run it with a Vault token allowed to manage policies and auth roles
# (VAULT_ADDR and VAULT_TOKEN set as usual for the vault CLI).
#
# Environment (defaults match the Helm chart installed as release "tenancy"
# in namespace "platform"):
#   POLICY           the policy file; the chart renders it with the values'
#                    kvMount and referencePrefixes (the paths tenant specs
#                    may read):  kubectl -n platform get configmap
#                    tenancy-vault-policy -o jsonpath='{.data.tenancy-worker\.hcl}'
#                    Default: tenancy-worker.hcl beside this script, the
#                    policy for the default values (no reference prefixes),
#                    its mount renamed to KV_MOUNT
#   NAMESPACE        namespace of the release               (platform)
#   SERVICE_ACCOUNT  the chart's service account: the release's full name,
#                    or serviceAccount.name                 (tenancy)
#   ROLE             Vault role, = tenancy.vault_auth_role (tenancy-worker)
#   KV_MOUNT         KV v2 mount, = tenancy.vault_kv_mount  (secret)
#   AUTH_PATH        Kubernetes auth mount                  (kubernetes)
#   AUDIENCE         audience of the worker's token: the API server's
#                    (kubectl create token default | cut -d. -f2 | base64 -d
#                    shows it)                              (https://kubernetes.default.svc.cluster.local)
#
# The auth method itself must be enabled and configured once (that is
# Vault's setup, not the worker's): vault auth enable kubernetes; vault write
# auth/kubernetes/config kubernetes_host=https://<api-server>:443, with a
# reviewer that holds system:auth-delegator.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
namespace=${NAMESPACE:-platform}
service_account=${SERVICE_ACCOUNT:-tenancy}
role=${ROLE:-tenancy-worker}
mount=${KV_MOUNT:-secret}
auth_path=${AUTH_PATH:-kubernetes}
audience=${AUDIENCE:-https://kubernetes.default.svc.cluster.local}

if [ -n "${POLICY:-}" ]; then
	vault policy write tenancy-worker "$POLICY"
else
	# The default policy is written for the mount "secret"; rename it.
	sed "s|^path \"secret/|path \"${mount}/|" "$here/tenancy-worker.hcl" |
		vault policy write tenancy-worker -
fi

vault write "auth/${auth_path}/role/${role}" \
	bound_service_account_names="${service_account}" \
	bound_service_account_namespaces="${namespace}" \
	audience="${audience}" \
	token_policies=tenancy-worker \
	token_ttl=1h \
	token_max_ttl=4h
