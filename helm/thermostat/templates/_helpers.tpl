{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "thermostat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release name already contains it. */}}
{{- define "thermostat.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "thermostat.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the life of a release (a Deployment selector is immutable). */}}
{{- define "thermostat.selectorLabels" -}}
app.kubernetes.io/name: {{ include "thermostat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard app.kubernetes.io/* labels on every object. */}}
{{- define "thermostat.labels" -}}
helm.sh/chart: {{ include "thermostat.chart" . }}
{{ include "thermostat.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: stream-processor
app.kubernetes.io/part-of: thermostat
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "thermostat.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "thermostat.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "thermostat.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Grace period: the job's drain timeout rounded up to seconds, plus a margin for the exit. */}}
{{- define "thermostat.terminationGracePeriodSeconds" -}}
{{- $ms := int64 .Values.config.shutdownTimeoutMs }}
{{- add (div (add $ms 999) 1000) (int64 .Values.terminationGraceMarginSeconds) }}
{{- end }}

{{/* Replicas beyond the input partition count hold no partition: cap every maximum there. */}}
{{- define "thermostat.maxReplicas" -}}
{{- min (int64 .Values.autoscaling.maxReplicas) (int64 .Values.config.inputPartitions) }}
{{- end }}

{{- define "thermostat.consumerGroup" -}}
{{- printf "%s-%s" .root.Values.config.appId .stage }}
{{- end }}

{{- define "thermostat.contentTopic" -}}
{{- .Values.autoscaling.keda.contentStage.topic | default (printf "%s-content-events" .Values.config.appId) }}
{{- end }}

{{/* librdkafka security.protocol from the SASL / TLS switches. */}}
{{- define "thermostat.kafkaSecurityProtocol" -}}
{{- if and .Values.kafka.sasl.enabled .Values.kafka.tls.enabled }}SASL_SSL
{{- else if .Values.kafka.sasl.enabled }}SASL_PLAINTEXT
{{- else if .Values.kafka.tls.enabled }}SSL
{{- else }}PLAINTEXT
{{- end }}
{{- end }}

{{/* THERMOSTAT_TF_BACKEND: gpu.backend when gpu.enabled, else config.tfBackend. */}}
{{- define "thermostat.tfBackend" -}}
{{- if .Values.gpu.enabled }}
{{- get (dict "webgpu" "webgpu" "tfjs-node-gpu" "gpu") .Values.gpu.backend }}
{{- else }}
{{- .Values.config.tfBackend }}
{{- end }}
{{- end }}

{{/* Matchers that select this release's scraped series (the ServiceMonitor's job and namespace). */}}
{{- define "thermostat.seriesSelector" -}}
{{- .Values.prometheusRule.selector | default (printf "job=%q, namespace=%q" (include "thermostat.fullname" .) .Release.Namespace) }}
{{- end }}

{{/* An alert's labels: its severity, then prometheusRule.alertLabels. Args: alert, labels. */}}
{{- define "thermostat.alertLabels" -}}
severity: {{ .alert.severity }}
{{- with .labels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "thermostat.kafkaTlsDir" -}}/etc/thermostat/kafka-tls{{- end }}
{{- define "thermostat.redisCaDir" -}}/etc/thermostat/redis-ca{{- end }}
{{- define "thermostat.configDir" -}}/etc/thermostat/config{{- end }}

{{/*
Non-secret librdkafka properties as a dict. The SASL credentials are added in the Deployment as
$(VAR) references to env vars from the Secret, so they never appear in the ConfigMap.
*/}}
{{- define "thermostat.rdkafkaPublic" -}}
{{- $p := deepCopy .Values.kafka.rdkafka }}
{{- $proto := include "thermostat.kafkaSecurityProtocol" . }}
{{- if ne $proto "PLAINTEXT" }}
{{- $_ := set $p "security.protocol" $proto }}
{{- end }}
{{- if .Values.kafka.sasl.enabled }}
{{- $_ := set $p "sasl.mechanisms" .Values.kafka.sasl.mechanism }}
{{- end }}
{{- if .Values.kafka.tls.enabled }}
{{- $dir := include "thermostat.kafkaTlsDir" . }}
{{- $_ := set $p "ssl.ca.location" (printf "%s/%s" $dir .Values.kafka.tls.caKey) }}
{{- if .Values.kafka.tls.certKey }}
{{- $_ := set $p "ssl.certificate.location" (printf "%s/%s" $dir .Values.kafka.tls.certKey) }}
{{- $_ := set $p "ssl.key.location" (printf "%s/%s" $dir .Values.kafka.tls.keyKey) }}
{{- end }}
{{- end }}
{{- toJson $p }}
{{- end }}

{{/* KEDA's names for the SASL mechanisms. */}}
{{- define "thermostat.kedaSasl" -}}
{{- $m := dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512" }}
{{- get $m .Values.kafka.sasl.mechanism }}
{{- end }}

{{/* Cross-field checks that JSON Schema cannot express; fail the render with a clear message. */}}
{{- define "thermostat.validate" -}}
{{- if and .Values.redis.tls.enabled (not .Values.redis.auth.urlKey) (not (hasPrefix "rediss" .Values.redis.url)) }}
{{- fail "redis.tls.enabled requires redis.url to start with rediss://, rediss+sentinel:// or rediss+cluster://" }}
{{- end }}
{{- if and .Values.redis.auth.passwordKey (contains "@" .Values.redis.url) }}
{{- fail "redis.auth.passwordKey: redis.url must not carry credentials too" }}
{{- end }}
{{- if and .Values.redis.auth.sentinelPasswordKey (not .Values.redis.auth.urlKey) (not (regexMatch "^rediss?\\+sentinel://" .Values.redis.url)) }}
{{- fail "redis.auth.sentinelPasswordKey requires a redis+sentinel:// URL" }}
{{- end }}
{{- with .Values.schemaRegistry.auth }}
{{- if and (or .usernameKey .passwordKey .bearerTokenKey) (not $.Values.kafka.schemaRegistryUrl) }}
{{- fail "schemaRegistry.auth needs kafka.schemaRegistryUrl" }}
{{- end }}
{{- if ne (empty .usernameKey) (empty .passwordKey) }}
{{- fail "schemaRegistry.auth: set usernameKey and passwordKey together" }}
{{- end }}
{{- if and .usernameKey .bearerTokenKey }}
{{- fail "schemaRegistry.auth: set either usernameKey/passwordKey or bearerTokenKey, not both" }}
{{- end }}
{{- if and (or .logicalCluster .identityPoolId) (not .bearerTokenKey) }}
{{- fail "schemaRegistry.auth.logicalCluster and identityPoolId need bearerTokenKey" }}
{{- end }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable) (kindIs "invalid" .Values.podDisruptionBudget.minAvailable) }}
{{- fail "podDisruptionBudget: set one of maxUnavailable and minAvailable" }}
{{- end }}
{{- if and .Values.learning.enabled .Values.gpu.enabled (eq .Values.gpu.backend "webgpu") }}
{{- fail "learning.enabled trains and scores with synchronous reads: use gpu.backend tfjs-node-gpu, or no GPU (wasm)" }}
{{- end }}
{{- if and .Values.prometheusRule.enabled (not .Values.prometheusRule.runbookUrl) }}
{{- fail "prometheusRule.enabled requires prometheusRule.runbookUrl (where docs/RUNBOOK.md is served)" }}
{{- end }}
{{- if and (ne .Values.autoscaling.mode "none") (gt (int64 .Values.autoscaling.minReplicas) (int64 (include "thermostat.maxReplicas" .))) }}
{{- fail (printf "autoscaling.minReplicas (%v) exceeds the replica cap min(autoscaling.maxReplicas, config.inputPartitions) = %s" .Values.autoscaling.minReplicas (include "thermostat.maxReplicas" .)) }}
{{- end }}
{{- end }}
