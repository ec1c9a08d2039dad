{{- define "pigeon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pigeon.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "pigeon.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "pigeon.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pigeon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pigeon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pigeon.labels" -}}
{{ include "pigeon.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "pigeon.secretName" -}}
{{- default (include "pigeon.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "pigeon.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Environment shared by the nodes and the migration Job: settings, then secrets. */}}
{{- define "pigeon.env" -}}
{{- $config := .Values.config | default dict -}}
{{- range $name, $value := $config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- if and .Values.ingress.enabled .Values.ingress.hosts (not (hasKey $config "PIGEON_PUBLIC_URL")) }}
- name: PIGEON_PUBLIC_URL
  value: {{ printf "https://%s" (first .Values.ingress.hosts) | quote }}
{{- end }}
- name: PIGEON_SHUTDOWN_GRACE_S
  value: {{ .Values.drain.shutdownGraceSeconds | toString | quote }}
- name: PIGEON_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "pigeon.secretName" . }}
      key: database-url
- name: PIGEON_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "pigeon.secretName" . }}
      key: redis-url
- name: PIGEON_JWT_SECRET_FILE
  value: /etc/pigeon/secret/jwt-secret
{{- end -}}

{{- define "pigeon.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "pigeon.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
