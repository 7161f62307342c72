{{/*
Names.  The full name is truncated to 52 characters: the StatefulSet's pods
carry a controller-revision-hash label that appends 11 characters to it, and
labels stop at 63.
*/}}
{{- define "tenancy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "tenancy.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tenancy.serviceAccountName" -}}
{{- if and (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) -}}
{{- fail "serviceAccount.name: required when serviceAccount.create is false" -}}
{{- end -}}
{{- default (include "tenancy.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "tenancy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tenancy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tenancy.labels" -}}
{{ include "tenancy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "tenancy.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
A postgresql.conf value, single-quoted; whole numbers stay whole (YAML
numbers reach templates as float64, and 1000000 would print as 1e+06).  The server unescapes backslashes
inside quotes and doubles quotes, so both are escaped; values.schema.json
refuses control characters, so a value cannot start a new line.
*/}}
{{- define "tenancy.confValue" -}}
{{- $v := toString . -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- $v = printf "%d" (int64 .) -}}
{{- end -}}
{{- printf "'%s'" ($v | replace "\\" "\\\\" | replace "'" "''") -}}
{{- end -}}

{{/* Where the projected volumes are mounted in the container. */}}
{{- define "tenancy.kubernetesCredentialsDir" -}}/var/run/secrets/tenancy/kubernetes{{- end -}}
{{- define "tenancy.vaultCADir" -}}/var/run/secrets/tenancy/vault{{- end -}}
{{- define "tenancy.grafanaTokenDir" -}}/var/run/secrets/tenancy/grafana{{- end -}}
{{- define "tenancy.tlsDir" -}}/var/run/secrets/tenancy/tls{{- end -}}
{{- define "tenancy.configDir" -}}/etc/tenancy{{- end -}}

{{/*
The tenancy.* settings as a dict (name without prefix -> value): those the
chart derives from its volumes and structured values, then
.Values.tenancy.settings, which may add settings but not override derived
ones (two sources for one setting would be a trap).
*/}}
{{- define "tenancy.tenancySettings" -}}
{{- $v := .Values.tenancy -}}
{{- $s := dict
  "database" $v.database
  "kubernetes_url" $v.kubernetes.url
  "kubernetes_token_file" (printf "%s/token" (include "tenancy.kubernetesCredentialsDir" .))
  "kubernetes_ca_file" (printf "%s/ca.crt" (include "tenancy.kubernetesCredentialsDir" .))
  "vault_url" $v.vault.url
  "vault_kv_mount" $v.vault.kvMount
  "vault_auth_role" $v.vault.authRole
  "grafana_url" $v.grafana.url
  "tenant_cluster_role" .Values.rbac.tenantRole.name
  "database_host" (printf "%s.%s.svc" (include "tenancy.fullname" .) .Release.Namespace)
-}}
{{- if $v.vault.caConfigMap -}}
{{- $_ := set $s "vault_ca_file" (printf "%s/ca.crt" (include "tenancy.vaultCADir" .)) -}}
{{- end -}}
{{- if $v.grafana.tokenSecret -}}
{{- $_ := set $s "grafana_token_file" (printf "%s/token" (include "tenancy.grafanaTokenDir" .)) -}}
{{- end -}}
{{- range $k, $val := $v.settings -}}
{{- if hasKey $s $k -}}
{{- fail (printf "tenancy.settings.%s: set by the chart from other values; see values.yaml" $k) -}}
{{- end -}}
{{- $_ := set $s $k $val -}}
{{- end -}}
{{- toJson $s -}}
{{- end -}}

{{/* Settings of postgresql.conf that the chart owns. */}}
{{- define "tenancy.reservedPostgresSettings" -}}
{{- list "shared_preload_libraries" "hba_file" "ident_file" "data_directory" "config_file" "external_pid_file" "listen_addresses" "port" "unix_socket_directories" "cron.use_background_workers" "ssl" "ssl_cert_file" "ssl_key_file" "cron.database_name" | toJson -}}
{{- end -}}

{{/*
The worker's Vault policy (vault-policy.yaml).  Generated credentials live
at <mount>/data/tenants/<tenant>/database: created on provision, read back
on a retry (which reuses them), replaced on rotation, every version removed
by deprovision (metadata).  A spec's {{ vault.get('P') }} is read at
<mount>/data/P, under one of tenancy.vault.referencePrefixes.
*/}}
{{- define "tenancy.vaultPolicy" -}}
{{- $mount := .Values.tenancy.vault.kvMount -}}
# Vault policy of the tenancy worker, rendered by the tenancy Helm chart (the
# ConfigMap <release>-vault-policy; deploy/vault/tenancy-worker.hcl is this
# policy for the default values).  deploy/vault/configure.sh writes it.

# Database credentials the worker generates, one secret per tenant.
path "{{ $mount }}/data/tenants/+/database" {
  capabilities = ["create", "read", "update"]
}

# deprovision removes every version of them.
path "{{ $mount }}/metadata/tenants/+/database" {
  capabilities = ["delete"]
}
{{- range $p := .Values.tenancy.vault.referencePrefixes }}

# Secrets tenant specs reference: {{ "{{" }} vault.get('{{ $p }}...') {{ "}}" }}
path "{{ $mount }}/data/{{ $p }}*" {
  capabilities = ["read"]
}
{{- end }}
{{ end -}}
