// Kubernetes object names as the API server validates them (RFC 1123): namespaces are DNS labels; nodes, pods,
// service accounts and most other objects are DNS subdomains.

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
