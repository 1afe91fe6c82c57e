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
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
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
{{- define "asymroute.capabilities" -}}
{{- if .Values.config.capture -}}
{{- toYaml (list "NET_ADMIN" "NET_RAW" "SETUID" "SETGID" "KILL") -}}
{{- else -}}
{{- toYaml (list "NET_ADMIN") -}}
{{- end -}}
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
