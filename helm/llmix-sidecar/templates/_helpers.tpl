{{/* Names. */}}
{{- define "llmix-sidecar.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "llmix-sidecar.webhookName" -}}
{{- printf "%s-webhook" (include "llmix-sidecar.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "llmix-sidecar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "llmix-sidecar.webhookName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "llmix-sidecar.tlsSecretName" -}}
{{- printf "%s-tls" (include "llmix-sidecar.webhookName" .) -}}
{{- end -}}

{{- define "llmix-sidecar.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "llmix-sidecar.registryConfigMap" -}}
{{- if .Values.registry.configMap -}}
{{- .Values.registry.configMap -}}
{{- else if .Values.registry.create -}}
{{- printf "%s-registry" (include "llmix-sidecar.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* A registry file path as a ConfigMap key ("/" is not allowed in keys). */}}
{{- define "llmix-sidecar.registryKey" -}}
{{- . | replace "/" "__" -}}
{{- end -}}

{{/*
ConfigMap key -> path under the registry mount, as a dict: from `registry.files` for a
chart-created ConfigMap, else `registry.items` for an existing one. Empty with a PVC.
*/}}
{{- define "llmix-sidecar.registryItemsDict" -}}
{{- $items := dict -}}
{{- if not .Values.registry.pvc -}}
{{- if .Values.registry.create -}}
{{- range $path, $_ := .Values.registry.files -}}
{{- $_ := set $items (include "llmix-sidecar.registryKey" $path) $path -}}
{{- end -}}
{{- else -}}
{{- $items = .Values.registry.items -}}
{{- end -}}
{{- end -}}
{{- toJson $items -}}
{{- end -}}

{{/* The same as "key=path,..." for the webhook (--registry-items). */}}
{{- define "llmix-sidecar.registryItems" -}}
{{- $pairs := list -}}
{{- range $key, $path := (include "llmix-sidecar.registryItemsDict" . | fromJson) -}}
{{- $pairs = append $pairs (printf "%s=%s" $key $path) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{- define "llmix-sidecar.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "llmix-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{- define "llmix-sidecar.restrictedSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
The sidecar container, as the webhook injects it (sidecar/injector.cc builds the same
container; tests/k8s checks that both agree).
*/}}
{{- define "llmix-sidecar.sidecarContainer" -}}
{{- $registry := or (include "llmix-sidecar.registryConfigMap" .) .Values.registry.pvc -}}
name: llmix-sidecar
image: {{ include "llmix-sidecar.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
args: [serve]
env:
  - name: LLMIX_STATE_DIR
    value: /var/run/llmix
  - name: LLMIX_GRPC_LISTEN
    value: unix:///var/run/llmix/llmix.sock,127.0.0.1:7070
  - name: LLMIX_ADMIN_LISTEN
    value: {{ printf "0.0.0.0:%d" (int .Values.sidecar.adminPort) | quote }}
  {{- if $registry }}
  - name: LLMIX_REGISTRY_DIR
    value: /etc/llmix/registry
  {{- end }}
  {{- with .Values.sidecar.redisUrl }}
  - name: REDIS_URL
    value: {{ . | quote }}
  {{- end }}
  {{- with .Values.sidecar.otlpEndpoint }}
  - name: OTEL_EXPORTER_OTLP_ENDPOINT
    value: {{ . | quote }}
  {{- end }}
{{- with .Values.sidecar.apiKeySecret }}
envFrom:
  - secretRef:
      name: {{ . }}
      optional: false
{{- end }}
ports:
  - name: llmix-admin
    containerPort: {{ int .Values.sidecar.adminPort }}
    protocol: TCP
resources:
  requests:
    cpu: {{ .Values.sidecar.resources.requests.cpu | quote }}
    memory: {{ .Values.sidecar.resources.requests.memory | quote }}
  limits:
    cpu: {{ .Values.sidecar.resources.limits.cpu | quote }}
    memory: {{ .Values.sidecar.resources.limits.memory | quote }}
startupProbe:
  httpGet: {path: /healthz, port: llmix-admin}
  periodSeconds: 1
  timeoutSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /healthz, port: llmix-admin}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: llmix-admin}
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 3
securityContext:
  {{- include "llmix-sidecar.restrictedSecurityContext" . | nindent 2 }}
volumeMounts:
  - name: llmix-run
    mountPath: /var/run/llmix
  {{- if $registry }}
  - name: llmix-registry
    mountPath: /etc/llmix/registry
    readOnly: true
  {{- end }}
{{- if .Values.sidecar.native }}
restartPolicy: Always
{{- end }}
{{- end -}}

{{/* The volumes the sidecar needs. */}}
{{- define "llmix-sidecar.sidecarVolumes" -}}
- name: llmix-run
  emptyDir:
    medium: Memory
    sizeLimit: 16Mi
{{- with (include "llmix-sidecar.registryConfigMap" .) }}
- name: llmix-registry
  configMap:
    name: {{ . }}
    {{- with (include "llmix-sidecar.registryItemsDict" $ | fromJson) }}
    items:
      {{- range $key, $path := . }}
      - key: {{ $key }}
        path: {{ $path }}
      {{- end }}
    {{- end }}
{{- else }}
{{- with $.Values.registry.pvc }}
- name: llmix-registry
  persistentVolumeClaim:
    claimName: {{ . }}
    readOnly: true
{{- end }}
{{- end }}
{{- end -}}
