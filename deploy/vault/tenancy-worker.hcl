# Vault policy of the tenancy worker, rendered by the tenancy Helm chart (the
# ConfigMap <release>-vault-policy; deploy/vault/tenancy-worker.hcl is this
# policy for the default values).  deploy/vault/configure.sh writes it.

# Database credentials the worker generates, one secret per tenant.
path "secret/data/tenants/+/database" {
  capabilities = ["create", "read", "update"]
}

# deprovision removes every version of them.
path "secret/metadata/tenants/+/database" {
  capabilities = ["delete"]
}
