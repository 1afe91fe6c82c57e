{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "asymroute.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: release-chart unless the release name already contains the chart name. */}}
{{- define "asymroute.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "asymroute.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "asymroute.selectorLabels" -}}
app.kubernetes.io/name: {{ include "asymroute.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "asymroute.labels" -}}
helm.sh/chart: {{ include "asymroute.chart" . }}
{{ include "asymroute.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: node-agent
{{- end -}}

{{- define "asymroute.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "asymroute.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "asymroute.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- $repo := .Values.image.repository -}}
{{- with .Values.image.registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}{{ end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/*
The PromQL selector every alert uses: the job Prometheus gives the agent's targets. With the chart's ServiceMonitor
that is the Service's name; with another scrape configuration, set prometheusRule.selector.
*/}}
{{- define "asymroute.selector" -}}
{{- default (printf "job=%q" (include "asymroute.fullname" .)) .Values.prometheusRule.selector -}}
{{- end -}}

{{/*
Capabilities the container adds after dropping ALL, each one measured (test/chart/capabilities.test.ts, docs
"Privileges"): NET_ADMIN reads the netfilter ruleset and conntrack (iptables-save, nft list, conntrack -L: nfnetlink
refuses any request without it), which name a VIP's DNAT backends and the marks its replies are routed by; the agent
never writes them. NET_RAW opens tcpdump's packet socket; the agent starts tcpdump as its own user through setpriv
(with NET_RAW and NET_ADMIN kept, and a parent-death signal set after the change of user), which needs SETUID and
SETGID; the agent then can signal it (stats, stop) only with KILL. Without the capture, NET_ADMIN only.
*/}}
{{- define "asymroute.capabilityNames" -}}
{{- if .Values.config.capture -}}
NET_ADMIN,NET_RAW,SETUID,SETGID,KILL
{{- else -}}
NET_ADMIN
{{- end -}}
{{- end -}}

{{/*
The container's securityContext: the hardened defaults (root without capabilities beyond the computed ones:
Kubernetes gives non-root users no ambient capabilities), then containerSecurityContext key by key over them, with
capabilities merged by its own keys (add, drop), so overriding drop keeps the computed add. Not mergeOverwrite: it
skips false and 0, the very values an override sets.
*/}}
{{- define "asymroute.containerSecurityContext" -}}
{{- $caps := dict "drop" (list "ALL") "add" (splitList "," (include "asymroute.capabilityNames" .)) -}}
{{- $sc := dict "runAsUser" 0 "runAsNonRoot" false "privileged" false "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true -}}
{{- range $k, $v := .Values.containerSecurityContext -}}
{{- if eq $k "capabilities" -}}
{{- range $ck, $cv := $v }}{{ $_ := set $caps $ck $cv }}{{ end -}}
{{- else -}}
{{- $_ := set $sc $k $v -}}
{{- end -}}
{{- end -}}
{{- $_ := set $sc "capabilities" $caps -}}
{{- toYaml $sc -}}
{{- end -}}

{{/*
How Prometheus reaches an agent, shared by the ServiceMonitor and the PodMonitor: HTTPS when the agent serves it,
verified against the Secret's CA unless the certificate is self-signed, and a bearer token unless auth is none.
A PodMonitor has no bearerTokenFile, so it needs serviceMonitor.authorization. Argument: (list $ "service"|"pod").
*/}}
{{- define "asymroute.scrapeAccess" -}}
{{- $ := index . 0 -}}
{{- $kind := index . 1 -}}
{{- $sm := $.Values.serviceMonitor -}}
{{- if include "asymroute.tlsOn" $ }}
scheme: https
tlsConfig:
  {{- if $sm.tlsConfig }}
  {{- toYaml $sm.tlsConfig | nindent 2 }}
  {{- else if eq $.Values.tls.source "selfSigned" }}
  # Each agent makes its own certificate: nothing to verify it against.
  insecureSkipVerify: true
  {{- else }}
  ca:
    secret:
      name: {{ include "asymroute.tlsSecretName" $ }}
      key: ca.crt
  serverName: {{ printf "%s.%s.svc" (include "asymroute.fullname" $) $.Release.Namespace }}
  {{- end }}
{{- end }}
{{- if ne (include "asymroute.authMode" $) "none" }}
{{- if $sm.authorization }}
authorization:
  {{- toYaml $sm.authorization | nindent 2 }}
{{- else if eq $kind "pod" }}
{{- fail "podMonitor needs serviceMonitor.authorization (e.g. {type: Bearer, credentials: {name: scrape-token, key: token}}): a PodMonitor cannot send Prometheus's own token file" }}
{{- else if $sm.bearerTokenFile }}
bearerTokenFile: {{ $sm.bearerTokenFile }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The auth mode the agent resolves config.auth to (agent/cli/access.ts): auto is tokens with a token file, kubernetes
when Kubernetes is in use (config.kubernetes not off: the pod has its service account), else none.
*/}}
{{- define "asymroute.authMode" -}}
{{- $c := .Values.config -}}
{{- if ne $c.auth "auto" -}}
{{- $c.auth -}}
{{- else if $c.authTokenFile -}}
tokens
{{- else if ne $c.kubernetes "off" -}}
kubernetes
{{- else -}}
none
{{- end -}}
{{- end -}}

{{- define "asymroute.loopback" -}}
{{- if or (hasPrefix "127." .Values.config.listen) (eq .Values.config.listen "::1") -}}true{{- end -}}
{{- end -}}

{{/* "true" when the agent serves HTTPS, as it resolves config.tls: on, or auto with a certificate or bearer tokens off loopback. */}}
{{- define "asymroute.tlsOn" -}}
{{- $c := .Values.config -}}
{{- $bearer := ne (include "asymroute.authMode" .) "none" -}}
{{- $loopback := eq (include "asymroute.loopback" .) "true" -}}
{{- if or (eq $c.tls "on") (and (eq $c.tls "auto") (or (ne .Values.tls.source "selfSigned") $c.tlsCertFile (and $bearer (not $loopback)))) -}}true{{- end -}}
{{- end -}}

{{/* The Secret holding the serving certificate for tls.source secret or certManager. */}}
{{- define "asymroute.tlsSecretName" -}}
{{- if eq .Values.tls.source "secret" -}}
{{- required "tls.secretName is required when tls.source is secret" .Values.tls.secretName -}}
{{- else -}}
{{- default (printf "%s-tls" (include "asymroute.fullname" .)) .Values.tls.secretName -}}
{{- end -}}
{{- end -}}

{{/* An alert's runbook: prometheusRule.runbookBaseUrl, then the page named after the alert (docs/runbooks/<page>.md). */}}
{{- define "asymroute.runbookUrl" -}}
{{- $root := index . 0 -}}
{{- printf "%s/%s.md" (trimSuffix "/" $root.Values.prometheusRule.runbookBaseUrl) (index . 1) -}}
{{- end -}}

{{/* "true" when the reader ClusterRoles (and the reader service account `asymroute cluster` asks a token for) exist. */}}
{{- define "asymroute.readers" -}}
{{- if and .Values.rbac.create .Values.rbac.readerRoles (eq (include "asymroute.authMode" .) "kubernetes") -}}true{{- end -}}
{{- end -}}

{{/*
Where the kubelet's probes go: the probe port (plain HTTP, /healthz and /readyz alone) when config.probePort is set,
else the API port, over HTTPS when it serves HTTPS.
*/}}
{{- define "asymroute.probeTarget" -}}
{{- if .Values.config.probePort -}}
port: probes
{{- else -}}
port: http
{{- if include "asymroute.tlsOn" . }}
scheme: HTTPS
{{- end }}
{{- end }}
{{- if ne .Values.config.listen "0.0.0.0" }}
host: {{ .Values.config.listen }}
{{- end }}
{{- end }}
