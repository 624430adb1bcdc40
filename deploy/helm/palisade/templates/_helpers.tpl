{{/* The namespace of every object: namespace.name, else the release namespace. */}}
{{- define "palisade.namespace" -}}
{{- default .Release.Namespace .Values.namespace.name -}}
{{- end -}}

{{/* Object name of a stage: <release>-<stage>, or palisade-<stage> for a release named palisade. */}}
{{- define "palisade.fullname" -}}
{{- $base := ternary "palisade" (printf "%s-palisade" .root.Release.Name) (eq .root.Release.Name "palisade") -}}
{{- printf "%s-%s" $base .stage | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "palisade.selectorLabels" -}}
app.kubernetes.io/name: palisade
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .stage }}
{{- end -}}

{{- define "palisade.labels" -}}
{{ include "palisade.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "palisade.image" -}}
{{- $i := .Values.image -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $i.repository $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $i.repository (default .Chart.AppVersion $i.tag) -}}
{{- end -}}
{{- end -}}

{{/* Kafka's security.protocol from the two switches; PLAIN over cleartext is refused here, as the stages would. */}}
{{- define "palisade.kafkaProtocol" -}}
{{- $k := .Values.kafka -}}
{{- if and $k.sasl.enabled (not $k.tls.enabled) (eq $k.sasl.mechanism "plain") -}}
{{- fail "kafka.sasl.mechanism plain needs kafka.tls.enabled: the password would cross the network in clear" -}}
{{- end -}}
{{- if $k.tls.enabled -}}{{ ternary "SASL_SSL" "SSL" $k.sasl.enabled }}{{- else -}}{{ ternary "SASL_PLAINTEXT" "PLAINTEXT" $k.sasl.enabled }}{{- end -}}
{{- end -}}

{{/* Env every stage gets: log level, brokers, TLS and SASL (services/common/src/common-config.ts, kafka-security.ts). */}}
{{- define "palisade.commonEnv" -}}
{{- $k := .root.Values.kafka -}}
- name: PALISADE_LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
- name: PALISADE_KAFKA_BROKERS
  value: {{ join "," $k.brokers | quote }}
- name: PALISADE_KAFKA_SECURITY_PROTOCOL
  value: {{ include "palisade.kafkaProtocol" .root | quote }}
{{- if $k.tls.enabled }}
{{- if $k.tls.caSecret }}
- name: PALISADE_KAFKA_CA_FILE
  value: /etc/palisade/kafka/ca/{{ $k.tls.caKey }}
{{- end }}
{{- if index $k.tls.clientCertSecrets .stage }}
- name: PALISADE_KAFKA_CERT_FILE
  value: /etc/palisade/kafka/client/tls.crt
- name: PALISADE_KAFKA_KEY_FILE
  value: /etc/palisade/kafka/client/tls.key
{{- end }}
{{- if $k.tls.serverName }}
- name: PALISADE_KAFKA_TLS_SERVER_NAME
  value: {{ $k.tls.serverName | quote }}
{{- end }}
{{- end }}
{{- if $k.sasl.enabled }}
- name: PALISADE_KAFKA_SASL_MECHANISM
  value: {{ $k.sasl.mechanism | quote }}
- name: PALISADE_KAFKA_USERNAME
  value: {{ index $k.sasl.users .stage | quote }}
- name: PALISADE_KAFKA_PASSWORD_FILE
  value: /etc/palisade/kafka/sasl/password
{{- end }}
{{- end -}}

{{/* The Kafka Secret mounts of a stage (each stage mounts only its own client certificate and password). */}}
{{- define "palisade.kafkaVolumeMounts" -}}
{{- $k := .root.Values.kafka -}}
{{- if and $k.tls.enabled $k.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/palisade/kafka/ca
  readOnly: true
{{- end }}
{{- if and $k.tls.enabled (index $k.tls.clientCertSecrets .stage) }}
- name: kafka-client-cert
  mountPath: /etc/palisade/kafka/client
  readOnly: true
{{- end }}
{{- if $k.sasl.enabled }}
- name: kafka-sasl
  mountPath: /etc/palisade/kafka/sasl
  readOnly: true
{{- end }}
{{- end -}}

{{- define "palisade.kafkaVolumes" -}}
{{- $k := .root.Values.kafka -}}
{{- if and $k.tls.enabled $k.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ $k.tls.caSecret }}
    defaultMode: 288 # 0440: read by the owner and the pod's group only
    items:
      - key: {{ $k.tls.caKey }}
        path: {{ $k.tls.caKey }}
{{- end }}
{{- $cert := index $k.tls.clientCertSecrets .stage }}
{{- if and $k.tls.enabled $cert }}
- name: kafka-client-cert
  secret:
    secretName: {{ $cert }}
    defaultMode: 288 # 0440: read by the owner and the pod's group only
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- if $k.sasl.enabled }}
- name: kafka-sasl
  secret:
    secretName: {{ required "kafka.sasl.passwordSecret is required when kafka.sasl.enabled" $k.sasl.passwordSecret }}
    defaultMode: 288 # 0440: read by the owner and the pod's group only
    items:
      - key: {{ .stage }}
        path: password
{{- end }}
{{- end -}}

{{/* Probes on the ops endpoint every service serves (services/common/src/http-server.ts). */}}
{{- define "palisade.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: ops
  periodSeconds: 5
  failureThreshold: 60
livenessProbe:
  httpGet:
    path: /healthz
    port: ops
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: ops
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* Pod Security "restricted" for the enricher, evaluator and responder. */}}
{{- define "palisade.restrictedPodSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "palisade.restrictedContainerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "palisade.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
