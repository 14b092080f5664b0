"""Configuration: kubeconfig loading and selection, TLS material, the exec/trust policy and
EKS exec detection. Imports nothing from ``auth`` (or anything above it)."""
